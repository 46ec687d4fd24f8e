// The CUDA model back end (model_ops.cu and every cuda/nn layer in a real network) under the
// emulator: a CPU model and a CUDA model (fp32) from the same seed take the same training steps
// on the same views (odd sizes, multi-crop, both archs, 1 and 3 channels), as bench/gpu/
// model_check.js does on a GPU. Bounds (model_check.js's, for fp32 with different summation
// orders): each step's loss terms 1e-4 relative; after the steps every state buffer and the
// eval-mode embeddings 1e-3 (relative norm). Then the same step with the views in device memory
// must give the host-view loss to 1e-6 (the CUDA ops' upload path against their device path).
#include <cmath>
#include <memory>

#include "clsa/model.h"
#include "common.h"

using namespace emu_check;
using V = std::vector<float>;

namespace {

constexpr double kLossBound = 1e-4, kStateBound = 1e-3, kEmbedBound = 1e-3;


struct Size {
  int64_t h, w;
};

struct Views {
  std::vector<V> data;  // key, weak..., strong...
  clsa_images key{};
  std::vector<clsa_images> weak, strong;
  clsa_step_views v{};
};
void make_views(Views& out, int64_t n, int64_t c, Size key, const std::vector<Size>& weak, const std::vector<Size>& strong) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto img = [&](Size s) {
    V x(size_t(n * c * s.h * s.w));
    for (float& f : x) f = nd(rng);
    out.data.push_back(std::move(x));
    return clsa_images{nullptr, n, c, s.h, s.w};
  };
  out.data.clear();
  out.key = img(key);
  out.weak.clear();
  out.strong.clear();
  for (Size s : weak) out.weak.push_back(img(s));
  for (Size s : strong) out.strong.push_back(img(s));
  out.key.data = out.data[0].data();
  for (size_t i = 0; i < out.weak.size(); ++i) out.weak[i].data = out.data[1 + i].data();
  for (size_t i = 0; i < out.strong.size(); ++i) out.strong[i].data = out.data[1 + weak.size() + i].data();
  out.v = {out.key, out.weak.data(), int64_t(out.weak.size()), out.strong.data(), int64_t(out.strong.size())};
}

void parity(const std::string& label, int32_t arch, int32_t width, int64_t c, int64_t n, Size key,
            const std::vector<Size>& weak, const std::vector<Size>& strong, int steps) {
  clsa_model_config cfg;
  clsa_model_config_default(&cfg);
  cfg.arch = arch, cfg.width = width, cfg.depth = 1, cfg.in_channels = int32_t(c);
  cfg.proj_hidden = 24, cfg.proj_dim = 20, cfg.queue_size = 45, cfg.split_bn = 2, cfg.seed = 7;
  cfg.device = CLSA_DEVICE_CPU;
  clsa_model *cpu = nullptr, *gpu = nullptr;
  ok(label + " cpu model", clsa_model_create(&cfg, &cpu));
  cfg.device = CLSA_DEVICE_CUDA;
  cfg.precision = CLSA_PRECISION_FP32;
  ok(label + " cuda model", clsa_model_create(&cfg, &gpu));
  if (!cpu || !gpu) return;
  Views views;
  for (int s = 0; s < steps; ++s) {
    make_views(views, n, c, key, weak, strong);
    clsa_step_result rc{}, rg{};
    ok(label + " cpu step", clsa_model_step(cpu, &views.v, 0.05f, &rc));
    ok(label + " cuda step", clsa_model_step(gpu, &views.v, 0.05f, &rg));
    const std::string st = label + " step " + std::to_string(s + 1);
    bound(st + " loss", rel_err(rg.loss, rc.loss), kLossBound);
    bound(st + " nce", rel_err(rg.nce_loss, rc.nce_loss), kLossBound);
    if (!strong.empty()) bound(st + " ddm", rel_err(rg.ddm_loss, rc.ddm_loss), kLossBound);
    bound(st + " accuracy", std::fabs(rg.accuracy - rc.accuracy), 2.0 / double(n));
  }
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b)
    bound(label + " after " + std::to_string(steps) + " steps: " + clsa_model_buffer_name(b),
          rel_norm(model_buffer(gpu, b), model_buffer(cpu, b)), kStateBound);
  clsa_model_info info{};
  clsa_model_get_info(cpu, &info);
  Views e;
  make_views(e, 5, c, key, {}, {});
  V fc(size_t(5 * info.feature_dim)), fg(fc.size());
  ok(label + " cpu embed", clsa_model_embed(cpu, &e.key, fc.data()));
  ok(label + " cuda embed", clsa_model_embed(gpu, &e.key, fg.data()));
  bound(label + " embed (5 images, eval BN)", rel_norm(fg, fc), kEmbedBound);

  // Device views: the state of the CUDA model copied into a twin, one step each.
  clsa_model* twin = nullptr;
  ok(label + " twin", clsa_model_create(&cfg, &twin));
  for (int32_t b = 0; b < CLSA_MODEL_BUFFER_COUNT; ++b) {
    const V x = model_buffer(gpu, b);
    clsa_model_set_buffer(twin, b, x.data(), int64_t(x.size()));
  }
  clsa_model_counters counters{};
  clsa_model_get_counters(gpu, &counters);
  clsa_model_set_counters(twin, &counters);
  make_views(views, n, c, key, weak, {});
  std::vector<std::unique_ptr<Dev<float>>> dev;
  Views dviews = views;
  for (size_t i = 0; i < views.data.size(); ++i) dev.emplace_back(new Dev<float>(views.data[i]));
  dviews.key.data = dev[0]->p;
  for (size_t i = 0; i < dviews.weak.size(); ++i) dviews.weak[i].data = dev[1 + i]->p;
  dviews.v = {dviews.key, dviews.weak.data(), int64_t(dviews.weak.size()), nullptr, 0};
  clsa_step_result r1{}, r2{};
  ok(label + " host-view step", clsa_model_step(gpu, &views.v, 0.05f, &r1));
  ok(label + " device-view step", clsa_model_step(twin, &dviews.v, 0.05f, &r2));
  bound(label + " host views vs device views (loss)", rel_err(r2.loss, r1.loss), 1e-6);
  clsa_model_destroy(twin);
  clsa_model_destroy(cpu);
  clsa_model_destroy(gpu);
}

}  // namespace

int main(int argc, char** argv) {
  start("emu_model", argc, argv);
  parity("mini rgb multi-crop", CLSA_ARCH_RESNET_MINI, 6, 3, 4, {12, 11}, {{12, 11}, {9, 8}}, {{10, 10}}, 2);
  parity("resnet18 gray", CLSA_ARCH_RESNET18, 4, 1, 6, {9, 10}, {{9, 10}}, {}, 1);
  return finish();
}
