// The augmentation C API as a native consumer sees it: status codes and messages for bad
// arguments, draws independent of thread count and batch split, derive() reproducing the
// derived fields, and CPU output identical across thread counts.
#include <clsa/clsa.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

static int failures = 0;
#define CHECK(cond, ...)                                      \
  do {                                                        \
    if (!(cond)) {                                            \
      std::printf("FAIL %s:%d: ", __FILE__, __LINE__);        \
      std::printf(__VA_ARGS__);                               \
      std::printf("\n");                                      \
      ++failures;                                             \
    }                                                         \
  } while (0)

static clsa_augment_view strong_view(int size) {
  clsa_augment_view v{};
  v.size = size;
  v.scale_min = 0.2f; v.scale_max = 1.0f;
  v.ratio_min = 3.0f / 4; v.ratio_max = 4.0f / 3;
  v.flip_p = 0.5f; v.jitter_p = 0.8f;
  v.brightness = v.contrast = v.saturation = 0.4f; v.hue = 0.1f;
  v.grayscale_p = 0.2f; v.blur_p = 0.5f; v.blur_sigma_min = 0.1f; v.blur_sigma_max = 2.0f;
  v.ra_n = 5; v.ra_p = 0.5f; v.ra_magnitude_min = 1; v.ra_magnitude_max = 9; v.ra_fill = 128;
  for (int c = 0; c < 3; ++c) { v.mean[c] = 0.5f; v.std[c] = 0.25f; }
  return v;
}

int main() {
  const int n = 37, H = 29, W = 23, C = 3;
  clsa_augment_view v = strong_view(17);

  // Bad arguments: a status and a message naming the argument.
  std::vector<clsa_augment_params> p(n);
  CHECK(clsa_augment_draw(nullptr, n, H, W, C, 1, 0, 0, p.data()) == CLSA_ERR_INVALID_ARGUMENT, "NULL view");
  CHECK(clsa_augment_draw(&v, n, H, W, 2, 1, 0, 0, p.data()) == CLSA_ERR_INVALID_ARGUMENT, "2 channels");
  CHECK(std::strstr(clsa_last_error(), "channels: expected 1 or 3 but got 2") != nullptr, "message: %s", clsa_last_error());
  clsa_augment_view bad = v;
  bad.ra_magnitude_max = 10;
  CHECK(clsa_augment_draw(&bad, n, H, W, C, 1, 0, 0, p.data()) == CLSA_ERR_INVALID_ARGUMENT, "magnitude 10");
  CHECK(std::strstr(clsa_last_error(), "view->ra_magnitude") != nullptr, "message: %s", clsa_last_error());

  // Draws: thread count and batch split change nothing.
  clsa_cpu_set_threads(1);
  CHECK(clsa_augment_draw(&v, n, H, W, C, 77, 0, 3, p.data()) == CLSA_OK, "draw: %s", clsa_last_error());
  clsa_cpu_set_threads(2);
  std::vector<clsa_augment_params> q(n);
  CHECK(clsa_augment_draw(&v, 20, H, W, C, 77, 0, 3, q.data()) == CLSA_OK, "draw head");
  CHECK(clsa_augment_draw(&v, n - 20, H, W, C, 77, 20, 3, q.data() + 20) == CLSA_OK, "draw tail");
  CHECK(std::memcmp(p.data(), q.data(), sizeof(clsa_augment_params) * n) == 0, "split draws differ");
  for (int i = 0; i < n; ++i) {
    clsa_augment_params d = p[i];
    std::memset(d.ra_affine, 0x55, sizeof d.ra_affine);
    d.blur_box_radius = -1;
    CHECK(clsa_augment_derive(&v, &d) == CLSA_OK, "derive");
    CHECK(std::memcmp(&d, &p[i], sizeof d) == 0, "derive does not reproduce the drawn struct for image %d", i);
  }

  // Apply: same bytes with 1 and 2 threads; bad crop rejected.
  std::vector<uint8_t> img(size_t(n) * H * W * C);
  for (size_t i = 0; i < img.size(); ++i) img[i] = uint8_t((i * 2654435761u) >> 24);
  std::vector<float> out1(size_t(n) * C * 17 * 17), out2(out1.size());
  float* o1[1] = {out1.data()};
  float* o2[1] = {out2.data()};
  clsa_augment_batch b{};
  b.device = CLSA_DEVICE_CPU;
  b.images = img.data();
  b.n = n; b.height = H; b.width = W; b.channels = C;
  b.view_count = 1; b.views = &v; b.params = p.data(); b.outputs = o1;
  clsa_cpu_set_threads(1);
  CHECK(clsa_augment_apply(&b) == CLSA_OK, "apply: %s", clsa_last_error());
  clsa_cpu_set_threads(2);
  b.outputs = o2;
  CHECK(clsa_augment_apply(&b) == CLSA_OK, "apply: %s", clsa_last_error());
  CHECK(std::memcmp(out1.data(), out2.data(), out1.size() * sizeof(float)) == 0, "1 vs 2 threads differ");
  bool finite = true;
  for (float x : out1) finite = finite && std::isfinite(x);
  CHECK(finite, "non-finite output");
  p[5].crop_x = W - p[5].crop_w + 1;
  CHECK(clsa_augment_apply(&b) == CLSA_ERR_INVALID_ARGUMENT, "bad crop accepted");
  CHECK(std::strstr(clsa_last_error(), "params[view 0][image 5]: crop box") != nullptr, "message: %s", clsa_last_error());
  clsa_backend_info info;
  clsa_backend_query(&info);
  if (info.cuda_state != CLSA_CUDA_USABLE) {  // host pointers: only meaningful where no GPU runs it
    b.device = CLSA_DEVICE_CUDA;
    p[5] = q[5];
    const clsa_status s = clsa_augment_apply(&b);
    CHECK(s == CLSA_ERR_NOT_COMPILED || s == CLSA_ERR_NO_DEVICE, "cuda without GPU: %s", clsa_status_string(s));
  }

  std::printf(failures ? "augment_api_test: %d failure(s)\n" : "augment_api_test: ok\n", failures);
  return failures ? 1 : 0;
}
