// C API of the augmentation pipelines: argument checks (status codes, never aborts), the
// per-view normalisation tables, and dispatch to the CPU or CUDA executor.
#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "augment/draw.h"
#include "augment/executors.h"
#include "cpu/threadpool.h"
#include "clsa/augment.h"
#include "internal.h"
#ifdef CLSA_WITH_CUDA
#include "cuda/cuda_api.h"
#endif

using namespace clsa;

namespace {

constexpr int32_t kMaxSize = 8192;

bool finite(float x) { return std::isfinite(x); }

clsa_status check_prob(const char* name, float p) {
  if (!(p >= 0.0f && p <= 1.0f))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->%s: expected a probability in [0, 1] but got %g", name, p);
  return CLSA_OK;
}

clsa_status check_range(const char* name, float lo, float hi, float min_excl, float max_incl) {
  if (!finite(lo) || !finite(hi) || !(lo > min_excl) || !(hi <= max_incl) || lo > hi)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->%s: expected %g < min <= max <= %g but got [%g, %g]", name, min_excl,
                max_incl, lo, hi);
  return CLSA_OK;
}

clsa_status check_view(const clsa_augment_view* v, int32_t channels, int index) {
  if (!v) return fail(CLSA_ERR_INVALID_ARGUMENT, "views[%d]: expected a clsa_augment_view but got NULL", index);
  if (v->size < 1 || v->size > kMaxSize)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->size: expected an integer in [1, %d] but got %d", kMaxSize, v->size);
  CLSA_TRY(check_range("scale", v->scale_min, v->scale_max, 0.0f, 1.0f));
  CLSA_TRY(check_range("ratio", v->ratio_min, v->ratio_max, 0.0f, 1e6f));
  CLSA_TRY(check_prob("flip_p", v->flip_p));
  CLSA_TRY(check_prob("jitter_p", v->jitter_p));
  CLSA_TRY(check_prob("grayscale_p", v->grayscale_p));
  CLSA_TRY(check_prob("blur_p", v->blur_p));
  CLSA_TRY(check_prob("ra_p", v->ra_p));
  const float strengths[3] = {v->brightness, v->contrast, v->saturation};
  const char* names[3] = {"brightness", "contrast", "saturation"};
  for (int i = 0; i < 3; ++i)
    if (!(strengths[i] >= 0.0f) || !finite(strengths[i]))
      return fail(CLSA_ERR_INVALID_ARGUMENT, "view->%s: expected a finite number >= 0 but got %g", names[i], strengths[i]);
  if (!(v->hue >= 0.0f && v->hue <= 0.5f))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->hue: expected a number in [0, 0.5] but got %g", v->hue);
  CLSA_TRY(check_range("blur_sigma", v->blur_sigma_min, v->blur_sigma_max, 0.0f, 1e4f));
  if (v->ra_n < 0 || v->ra_n > CLSA_AUGMENT_MAX_OPS)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->ra_n: expected an integer in [0, %d] but got %d", CLSA_AUGMENT_MAX_OPS,
                v->ra_n);
  if (v->ra_magnitude_min < 1 || v->ra_magnitude_max > 9 || v->ra_magnitude_min > v->ra_magnitude_max)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->ra_magnitude: expected 1 <= min <= max <= 9 but got [%d, %d]",
                v->ra_magnitude_min, v->ra_magnitude_max);
  if (v->ra_fill < 0 || v->ra_fill > 255)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->ra_fill: expected an integer in [0, 255] but got %d", v->ra_fill);
  for (int c = 0; c < channels; ++c) {
    if (!finite(v->mean[c]))
      return fail(CLSA_ERR_INVALID_ARGUMENT, "view->mean[%d]: expected a finite number but got %g", c, v->mean[c]);
    if (!(v->std[c] > 0.0f) || !finite(v->std[c]))
      return fail(CLSA_ERR_INVALID_ARGUMENT, "view->std[%d]: expected a finite number > 0 but got %g", c, v->std[c]);
  }
  return CLSA_OK;
}

clsa_status check_image_dims(int32_t height, int32_t width, int32_t channels) {
  if (height < 1 || height > kMaxSize || width < 1 || width > kMaxSize)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "height/width: expected integers in [1, %d] but got %d x %d", kMaxSize, height,
                width);
  if (channels != 1 && channels != 3)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "channels: expected 1 or 3 but got %d", channels);
  return CLSA_OK;
}

// What the executors rely on for memory safety: crop inside the image, op ids and counts in range.
clsa_status check_params(const clsa_augment_params& p, int32_t height, int32_t width, int view, int64_t image) {
  if (p.crop_w < 1 || p.crop_h < 1 || p.crop_x < 0 || p.crop_y < 0 || p.crop_x + p.crop_w > width ||
      p.crop_y + p.crop_h > height)
    return fail(CLSA_ERR_INVALID_ARGUMENT,
                "params[view %d][image %lld]: crop box x=%d y=%d w=%d h=%d does not lie inside the %d x %d image", view,
                (long long)image, p.crop_x, p.crop_y, p.crop_w, p.crop_h, width, height);
  if (p.ra_count < 0 || p.ra_count > CLSA_AUGMENT_MAX_OPS)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "params[view %d][image %lld].ra_count: expected 0..%d but got %d", view,
                (long long)image, CLSA_AUGMENT_MAX_OPS, p.ra_count);
  for (int k = 0; k < 4; ++k)
    if (p.jitter_order[k] < -1 || p.jitter_order[k] > 3)
      return fail(CLSA_ERR_INVALID_ARGUMENT, "params[view %d][image %lld].jitter_order[%d]: expected -1..3 but got %d",
                  view, (long long)image, k, p.jitter_order[k]);
  if (!(p.blur_box_radius >= 0.0f && p.blur_box_radius < 1e4f))
    return fail(CLSA_ERR_INVALID_ARGUMENT, "params[view %d][image %lld].blur_box_radius: expected [0, 1e4) but got %g",
                view, (long long)image, p.blur_box_radius);
  for (int k = 0; k < p.ra_count; ++k) {
    if (p.ra_op[k] < 0 || p.ra_op[k] >= CLSA_RA_OP_COUNT)
      return fail(CLSA_ERR_INVALID_ARGUMENT, "params[view %d][image %lld].ra_op[%d]: expected 0..13 but got %d", view,
                  (long long)image, k, p.ra_op[k]);
    if (p.ra_op[k] == CLSA_RA_POSTERIZE && (p.ra_int[k] < 1 || p.ra_int[k] > 8))
      return fail(CLSA_ERR_INVALID_ARGUMENT, "params[view %d][image %lld].ra_int[%d]: posterize bits must be 1..8 but got %d",
                  view, (long long)image, k, p.ra_int[k]);
  }
  return CLSA_OK;
}

}  // namespace

extern "C" {

clsa_status clsa_augment_draw(const clsa_augment_view* view, int64_t n, int32_t height, int32_t width, int32_t channels,
                              uint64_t seed, int64_t image_offset, int32_t view_index, clsa_augment_params* params) {
  clear_error();
  CLSA_TRY(check_image_dims(height, width, channels));
  CLSA_TRY(check_view(view, channels, 0));
  if (n < 0 || n > kMaxDim) return fail(CLSA_ERR_INVALID_ARGUMENT, "n: expected 0 .. 2^31-1 but got %lld", (long long)n);
  if (image_offset < 0)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "image_offset: expected >= 0 but got %lld", (long long)image_offset);
  if (view_index < 0) return fail(CLSA_ERR_INVALID_ARGUMENT, "view_index: expected >= 0 but got %d", view_index);
  if (n > 0 && !params) return fail(CLSA_ERR_INVALID_ARGUMENT, "params: expected %lld structs but got NULL", (long long)n);
  // Each image's stream is keyed by its index, so splitting the loop over threads changes nothing.
  constexpr int64_t kChunk = 2048;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  auto run = [&](int64_t chunk, int) {
    const int64_t end = std::min(n, (chunk + 1) * kChunk);
    for (int64_t i = chunk * kChunk; i < end; ++i)
      aug::draw_one(*view, height, width, seed, uint64_t(image_offset + i), uint64_t(view_index), params[i]);
  };
  if (chunks > 1)
    cpu::parallel_for(chunks, run);
  else if (chunks == 1)
    run(0, 0);
  return CLSA_OK;
}

clsa_status clsa_augment_derive(const clsa_augment_view* view, clsa_augment_params* params) {
  clear_error();
  if (!view || !params) return fail(CLSA_ERR_INVALID_ARGUMENT, "%s: expected a pointer but got NULL", view ? "params" : "view");
  if (view->size < 1 || view->size > kMaxSize)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "view->size: expected an integer in [1, %d] but got %d", kMaxSize, view->size);
  if (params->ra_count < 0 || params->ra_count > CLSA_AUGMENT_MAX_OPS)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "params->ra_count: expected 0..%d but got %d", CLSA_AUGMENT_MAX_OPS,
                params->ra_count);
  aug::derive(*view, *params);
  return CLSA_OK;
}

clsa_status clsa_augment_apply(const clsa_augment_batch* b) {
  clear_error();
  if (!b) return fail(CLSA_ERR_INVALID_ARGUMENT, "batch: expected a clsa_augment_batch but got NULL");
  CLSA_TRY(check_image_dims(b->height, b->width, b->channels));
  if (b->n < 0 || b->n > kMaxDim)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->n: expected 0 .. 2^31-1 but got %lld", (long long)b->n);
  if (b->view_count < 1 || b->view_count > CLSA_AUGMENT_MAX_VIEWS)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->view_count: expected 1..%d but got %d", CLSA_AUGMENT_MAX_VIEWS,
                b->view_count);
  if (!b->views) return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->views: expected %d views but got NULL", b->view_count);
  for (int v = 0; v < b->view_count; ++v) CLSA_TRY(check_view(&b->views[v], b->channels, v));
  if (b->n == 0) return CLSA_OK;
  if (!b->images) return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->images: expected [n, H, W, C] bytes but got NULL");
  if (!b->params) return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->params: expected [views][n] structs but got NULL");
  if (!b->outputs) return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->outputs: expected %d pointers but got NULL", b->view_count);
  for (int v = 0; v < b->view_count; ++v)
    if (!b->outputs[v]) return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->outputs[%d]: expected a pointer but got NULL", v);
  const __int128 elems = (__int128)b->n * b->height * b->width * b->channels;
  if (elems > kMaxElements) return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->images: too many elements");
  for (int v = 0; v < b->view_count; ++v)
    for (int64_t i = 0; i < b->n; ++i)
      CLSA_TRY(check_params(b->params[v * b->n + i], b->height, b->width, v, i));
  if (b->device != CLSA_DEVICE_CPU && b->device != CLSA_DEVICE_CUDA)
    return fail(CLSA_ERR_INVALID_ARGUMENT, "batch->device: expected CLSA_DEVICE_CPU (0) or CLSA_DEVICE_CUDA (1) but got %d",
                b->device);
  try {
    // Normalisation tables: ToTensor's x / 255 then (t - mean) / std, in float as torchvision does.
    std::vector<aug::ViewConst> vcs(size_t(b->view_count));
    for (int v = 0; v < b->view_count; ++v) {
      aug::ViewConst& vc = vcs[size_t(v)];
      vc = aug::ViewConst{};
      vc.size = b->views[v].size;
      vc.out = b->outputs[v];
      for (int c = 0; c < b->channels; ++c)
        for (int x = 0; x < 256; ++x) vc.lut[c][x] = (float(x) / 255.0f - b->views[v].mean[c]) / b->views[v].std[c];
    }
    if (b->device == CLSA_DEVICE_CUDA) {
#ifdef CLSA_WITH_CUDA
      CLSA_TRY(cuda::check_device(b->device_index));
      return aug::apply_cuda(*b, vcs.data());
#else
      return fail(CLSA_ERR_NOT_COMPILED, "clsa_augment_apply: this build of libclsa has no CUDA back end (compiled without nvcc)");
#endif
    }
    return aug::apply_cpu(*b, vcs.data());
  } catch (const std::bad_alloc&) {
    return fail(CLSA_ERR_OUT_OF_MEMORY, "clsa_augment_apply: out of host memory");
  } catch (...) {
    return fail(CLSA_ERR_INTERNAL, "clsa_augment_apply: unexpected C++ exception");
  }
}

}  // extern "C"
