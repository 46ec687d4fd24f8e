#include "arch.h"

#include <cmath>

#include "rng.h"

namespace clsa::model {
namespace {

struct Builder {
  Arch& a;
  ConvSpec conv(int64_t cin, int64_t cout, int64_t k, int64_t stride) {
    ConvSpec s{cin, cout, k, stride, k / 2, a.params};
    a.params += cout * cin * k * k;
    return s;
  }
  BnSpec bn(int64_t c) {
    BnSpec s{c, a.params, a.params + c, a.stats, a.stats + c};
    a.params += 2 * c;
    a.stats += 2 * c;
    return s;
  }
  LinearSpec linear(int64_t in, int64_t out) {
    LinearSpec s{in, out, a.params, a.params + in * out};
    a.params += in * out + out;
    return s;
  }
};

}  // namespace

Arch build_arch(const clsa_model_config& c) {
  Arch a;
  Builder b{a};
  const bool r18 = c.arch == CLSA_ARCH_RESNET18;
  const int64_t width = c.width > 0 ? c.width : (r18 ? 64 : 32);
  const int64_t depth = c.depth > 0 ? c.depth : (r18 ? 2 : 1);
  const int stages = r18 ? 4 : 3;
  a.in_channels = c.in_channels;
  a.stem = b.conv(c.in_channels, width, 3, 1);
  a.stem_bn = b.bn(width);
  int64_t cin = width;
  for (int st = 0; st < stages; ++st) {
    const int64_t cout = width << st;
    for (int64_t i = 0; i < depth; ++i) {
      const int64_t stride = (st > 0 && i == 0) ? 2 : 1;
      BlockSpec blk;
      blk.conv1 = b.conv(cin, cout, 3, stride);
      blk.bn1 = b.bn(cout);
      blk.conv2 = b.conv(cout, cout, 3, 1);
      blk.bn2 = b.bn(cout);
      blk.down = stride != 1 || cin != cout;
      if (blk.down) {
        blk.conv_sc = b.conv(cin, cout, 1, stride);
        blk.bn_sc = b.bn(cout);
      }
      a.blocks.push_back(blk);
      cin = cout;
    }
  }
  a.feature_dim = cin;
  const int64_t hidden = c.proj_hidden > 0 ? c.proj_hidden : cin;
  a.fc1 = b.linear(cin, hidden);
  a.fc2 = b.linear(hidden, c.proj_dim);
  return a;
}

void init_params(const Arch& a, uint32_t seed, float* p, float* stats) {
  Rng rng(seed, 0x1417);
  auto conv = [&](const ConvSpec& s) {
    // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / fan_out)
    const double std = std::sqrt(2.0 / double(s.cout * s.k * s.k));
    for (int64_t i = 0; i < s.cout * s.cin * s.k * s.k; ++i) p[s.w + i] = float(std * rng.normal());
  };
  auto bn = [&](const BnSpec& s) {
    for (int64_t i = 0; i < s.c; ++i) {
      p[s.gamma + i] = 1.0f;
      p[s.beta + i] = 0.0f;
      stats[s.mean + i] = 0.0f;
      stats[s.var + i] = 1.0f;
    }
  };
  auto linear = [&](const LinearSpec& s) {
    // torch.nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
    const double bound = 1.0 / std::sqrt(double(s.in));
    for (int64_t i = 0; i < s.in * s.out; ++i) p[s.w + i] = float(bound * (2.0 * rng.uniform() - 1.0));
    for (int64_t i = 0; i < s.out; ++i) p[s.b + i] = float(bound * (2.0 * rng.uniform() - 1.0));
  };
  conv(a.stem);
  bn(a.stem_bn);
  for (const BlockSpec& b : a.blocks) {
    conv(b.conv1);
    bn(b.bn1);
    conv(b.conv2);
    bn(b.bn2);
    if (b.down) {
      conv(b.conv_sc);
      bn(b.bn_sc);
    }
  }
  linear(a.fc1);
  linear(a.fc2);
}

}  // namespace clsa::model
