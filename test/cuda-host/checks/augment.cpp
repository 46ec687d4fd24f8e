// The augmentation pipelines (cuda/augment.cu) under the emulator against the CPU executor: the
// same drawn parameters must give bit-identical float outputs (both executors run the same
// per-pixel code of augment/pipeline.h with exactly rounded operations). As bench/gpu/
// augment_check.js: whole pipelines (gray and RGB, weak and strong views, a non-square source,
// views small enough for shared-memory scratch and one that needs the global slab), then each
// RandAugment op alone at every magnitude and both signs.
#include <cmath>
#include <cstring>
#include <memory>

#include "common.h"

using namespace emu_check;
using V = std::vector<float>;

namespace {

clsa_augment_view make_view(int size, int channels, int ra_n) {
  clsa_augment_view v{};
  v.size = size;
  v.scale_min = 0.2f, v.scale_max = 1.0f, v.ratio_min = 3.0f / 4, v.ratio_max = 4.0f / 3;
  v.flip_p = 0.5f, v.jitter_p = 0.8f;
  v.brightness = v.contrast = v.saturation = 0.4f, v.hue = 0.1f;
  v.grayscale_p = 0.2f, v.blur_p = 0.5f, v.blur_sigma_min = 0.1f, v.blur_sigma_max = 2.0f;
  v.ra_n = ra_n, v.ra_p = 0.7f, v.ra_magnitude_min = 1, v.ra_magnitude_max = 9, v.ra_fill = 128;
  for (int c = 0; c < channels; ++c) v.mean[c] = 0.45f + 0.05f * float(c), v.std[c] = 0.22f + 0.01f * float(c);
  return v;
}

std::vector<uint8_t> images(int64_t n, int h, int w, int c) {
  std::vector<uint8_t> img(size_t(n * h * w * c));
  for (size_t i = 0; i < img.size(); ++i) {
    const int64_t im = int64_t(i) / (h * w * c), p = int64_t(i) % (h * w * c), y = p / (w * c), x = (p / c) % w;
    // Half noise, half smooth: histograms and resampling both get exercised.
    img[i] = im % 2 ? uint8_t(rng() >> 56) : uint8_t(127 + 120 * std::sin(double(x) * 0.37 + double(p % c)) * std::cos(double(y) * 0.23));
  }
  return img;
}

void compare(const std::string& name, const std::vector<uint8_t>& img, int64_t n, int h, int w, int c,
             const std::vector<clsa_augment_view>& views, const std::vector<clsa_augment_params>& params, bool on_host) {
  const int nv = int(views.size());
  std::vector<V> cpu(static_cast<size_t>(nv));
  std::vector<float*> cpu_out(static_cast<size_t>(nv)), dev_out(static_cast<size_t>(nv));
  std::vector<std::unique_ptr<Dev<float>>> dev;
  for (int v = 0; v < nv; ++v) {
    const size_t count = size_t(n * c * views[size_t(v)].size * views[size_t(v)].size);
    cpu[size_t(v)].assign(count, -7.0f);
    cpu_out[size_t(v)] = cpu[size_t(v)].data();
    dev.emplace_back(new Dev<float>(count));
    dev_out[size_t(v)] = dev.back()->p;
  }
  clsa_augment_batch b{};
  b.device = CLSA_DEVICE_CPU;
  b.images = img.data();
  b.n = n, b.height = h, b.width = w, b.channels = c, b.view_count = nv;
  b.views = views.data();
  b.params = params.data();
  b.outputs = cpu_out.data();
  ok("cpu augment " + name, clsa_augment_apply(&b));
  Dev<uint8_t> dimg(img);
  b.device = CLSA_DEVICE_CUDA;
  b.images_on_host = on_host;
  b.images = on_host ? img.data() : dimg.p;
  b.outputs = dev_out.data();
  ok("cuda augment " + name, clsa_augment_apply(&b));
  cudaDeviceSynchronize();
  for (int v = 0; v < nv; ++v)
    same(name + " view " + std::to_string(v) + " (" + std::to_string(views[size_t(v)].size) + " px" +
             (views[size_t(v)].ra_n ? ", strong)" : ", weak)"),
         cpu[size_t(v)], dev[size_t(v)]->down());
}

void pipeline(const std::string& name, int64_t n, int h, int w, int c, const std::vector<clsa_augment_view>& views,
              bool on_host) {
  const auto img = images(n, h, w, c);
  std::vector<clsa_augment_params> params(views.size() * size_t(n));
  for (size_t v = 0; v < views.size(); ++v)
    ok("draw", clsa_augment_draw(&views[v], n, h, w, c, 11, 0, int32_t(v), params.data() + v * size_t(n)));
  compare(name, img, n, h, w, c, views, params, on_host);
}

// Each op alone on the whole image, magnitudes 1..9 over the images, both signs.
void single_op(int op, int c) {
  const int64_t n = 9;
  const int s = 13;
  const auto img = images(n, s, s, c);
  clsa_augment_view view = make_view(s, c, 1);
  std::vector<clsa_augment_params> params(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    clsa_augment_params& p = params[size_t(i)];
    std::memset(&p, 0, sizeof p);
    p.crop_w = s, p.crop_h = s;
    for (int& o : p.jitter_order) o = -1;
    p.brightness = p.contrast = p.saturation = 1.0f;
    p.blur_sigma = 1.0f;
    p.ra_count = 1;
    p.ra_op[0] = op;
    p.ra_magnitude[0] = int32_t(1 + i % 9);
    p.ra_sign[0] = i % 2 ? 1 : -1;
    p.ra_applied[0] = 1;
    ok("derive", clsa_augment_derive(&view, &p));
  }
  compare("op " + std::to_string(op) + " C=" + std::to_string(c), img, n, s, s, c, {view}, params, true);
}

}  // namespace

int main(int argc, char** argv) {
  start("emu_augment", argc, argv);
  pipeline("28px gray multi-crop", 6, 28, 28, 1, {make_view(28, 1, 0), make_view(28, 1, 5), make_view(12, 1, 5)}, true);
  pipeline("32px rgb", 4, 32, 32, 3, {make_view(32, 3, 0), make_view(32, 3, 5), make_view(14, 3, 5)}, false);
  pipeline("40x30 rgb non-square", 4, 30, 40, 3, {make_view(24, 3, 0), make_view(17, 3, 8)}, true);
  pipeline("80px rgb (global scratch)", 2, 80, 80, 3, {make_view(80, 3, 5)}, false);
  for (int c : {1, 3})
    for (int op = 0; op < CLSA_RA_OP_COUNT; ++op) single_op(op, c);
  return finish();
}
