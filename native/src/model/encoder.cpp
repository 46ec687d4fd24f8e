#include "encoder.h"

namespace clsa::model {
namespace {

nn::ConvShape shape(const ConvSpec& c, int64_t n, int64_t h, int64_t w) {
  return {c.cin, c.cout, c.k, c.stride, c.pad, n, h, w};
}

// conv -> BN (train or eval) -> optional ReLU into `out`; `pre` keeps the conv output.
void conv_bn(Ops& ops, const ConvSpec& cs, const BnSpec& bs, const float* params, float* stats, const float* x, int64_t n,
             int64_t h, int64_t w, const BnMode& mode, Buf& pre, Buf& mean, Buf& invstd, Buf& out, bool relu) {
  const nn::ConvShape s = shape(cs, n, h, w);
  const int64_t hw = s.ho() * s.wo(), count = cs.cout * n * hw;
  float* c = ops.sized(pre, count);
  float* y = ops.sized(out, count);
  const nn::BnShape b{bs.c, n, hw, mode.train ? mode.groups : 1, mode.eps};
  if (mode.train) {
    ops.conv_bn_forward_train(s, x, params + cs.w, c, b, params + bs.gamma, params + bs.beta, y,
                              ops.sized(mean, bs.c * b.groups), ops.sized(invstd, bs.c * b.groups),
                              mode.update_running ? stats + bs.mean : nullptr,
                              mode.update_running ? stats + bs.var : nullptr, mode.momentum, relu);
  } else {
    ops.conv_forward(s, x, params + cs.w, c);
    ops.bn_forward_eval(b, c, params + bs.gamma, params + bs.beta, stats + bs.mean, stats + bs.var, y, relu);
  }
}

// BN backward from gin (masked by relu_out when the BN fed a ReLU) into gtmp (may alias gin),
// then conv backward into dx (may be null).
void bn_conv_backward(Ops& ops, const ConvSpec& cs, const BnSpec& bs, const float* params, const float* x, int64_t n, int64_t h,
                      int64_t w, int64_t groups, const Buf& pre, const Buf& mean, const Buf& invstd, const float* gin,
                      const float* relu_out, float* gtmp, float* dx, float* grads) {
  const nn::ConvShape s = shape(cs, n, h, w);
  const nn::BnShape b{bs.c, n, s.ho() * s.wo(), groups, 0.0f};
  ops.bn_backward(b, pre.data(), params + bs.gamma, mean.data(), invstd.data(), gin, gtmp, grads + bs.gamma,
                  grads + bs.beta, relu_out);
  ops.conv_backward(s, x, params + cs.w, gtmp, dx, grads + cs.w);
}

}  // namespace

void encoder_forward(Ops& ops, const Arch& a, const float* params, float* stats, const float* images, int64_t n, int64_t h,
                     int64_t w, const int64_t* perm, const BnMode& mode, bool project, Trace& t, int64_t image_rows) {
  t.n = n;
  t.h = h;
  t.w = w;
  t.groups = mode.groups;
  const int64_t c = a.in_channels, hw = h * w;
  float* x = ops.sized(t.x, c * n * hw);
  ops.gather_images(images, image_rows > 0 ? image_rows : n, n, c, hw, perm, x);
  conv_bn(ops, a.stem, a.stem_bn, params, stats, x, n, h, w, mode, t.c0, t.m0, t.i0, t.a0, true);
  t.blocks.resize(a.blocks.size());
  const float* cur = t.a0.data();
  int64_t ch = h, cw = w;
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    const BlockSpec& b = a.blocks[i];
    BlockTrace& bt = t.blocks[i];
    bt.h = ch;
    bt.w = cw;
    const nn::ConvShape s1 = shape(b.conv1, n, ch, cw);
    bt.ho = s1.ho();
    bt.wo = s1.wo();
    conv_bn(ops, b.conv1, b.bn1, params, stats, cur, n, ch, cw, mode, bt.c1, bt.m1, bt.i1, bt.a1, true);
    conv_bn(ops, b.conv2, b.bn2, params, stats, bt.a1.data(), n, bt.ho, bt.wo, mode, bt.c2, bt.m2, bt.i2, bt.out, false);
    const int64_t count = b.conv2.cout * n * bt.ho * bt.wo;
    if (b.down) {
      conv_bn(ops, b.conv_sc, b.bn_sc, params, stats, cur, n, ch, cw, mode, bt.cs, bt.ms, bt.is, t.tmp, false);
      ops.add_relu_forward(bt.out.data(), t.tmp.data(), bt.out.data(), count);
    } else {
      ops.add_relu_forward(bt.out.data(), cur, bt.out.data(), count);
    }
    cur = bt.out.data();
    ch = bt.ho;
    cw = bt.wo;
  }
  ops.gap_forward(cur, a.feature_dim, n, ch * cw, ops.sized(t.feat, n * a.feature_dim));
  if (!project) return;
  float* h1 = ops.sized(t.h1, n * a.fc1.out);
  ops.linear_forward(t.feat.data(), n, a.fc1.in, a.fc1.out, params + a.fc1.w, params + a.fc1.b, h1);
  ops.relu_forward(h1, h1, n * a.fc1.out);
  ops.linear_forward(h1, n, a.fc2.in, a.fc2.out, params + a.fc2.w, params + a.fc2.b, ops.sized(t.z, n * a.fc2.out));
}

void encoder_backward(Ops& ops, const Arch& a, const float* params, const Trace& t, const float* dz, float* grads,
                      GradScratch& g) {
  const int64_t n = t.n;
  float* dh = ops.sized(g.dh, n * a.fc1.out);
  ops.linear_backward(t.h1.data(), n, a.fc2.in, a.fc2.out, params + a.fc2.w, dz, dh, grads + a.fc2.w, grads + a.fc2.b);
  ops.relu_backward(t.h1.data(), dh, dh, n * a.fc1.out);
  float* dfeat = ops.sized(g.dfeat, n * a.feature_dim);
  ops.linear_backward(t.feat.data(), n, a.fc1.in, a.fc1.out, params + a.fc1.w, dh, dfeat, grads + a.fc1.w,
                      grads + a.fc1.b);
  const BlockTrace* last = t.blocks.empty() ? nullptr : &t.blocks.back();
  const int64_t lh = last ? last->ho : t.h, lw = last ? last->wo : t.w;
  ops.gap_backward(dfeat, a.feature_dim, n, lh * lw, ops.sized(g.cur, a.feature_dim * n * lh * lw));
  for (size_t i = a.blocks.size(); i-- > 0;) {
    const BlockSpec& b = a.blocks[i];
    const BlockTrace& bt = t.blocks[i];
    const float* x = i == 0 ? t.a0.data() : t.blocks[i - 1].out.data();
    const int64_t out_count = b.conv2.cout * n * bt.ho * bt.wo, in_count = b.conv1.cin * n * bt.h * bt.w;
    float* d = g.cur.data();
    // The ReLU after the residual add: the last block's here; the others' are folded into the
    // residual add of the block after them (below).
    if (i + 1 == a.blocks.size()) ops.relu_backward(bt.out.data(), d, d, out_count);
    float* tmp = ops.sized(g.s, out_count);
    float* dx_sc = nullptr;
    if (b.down) {
      dx_sc = ops.sized(g.dx, in_count);
      bn_conv_backward(ops, b.conv_sc, b.bn_sc, params, x, n, bt.h, bt.w, t.groups, bt.cs, bt.ms, bt.is, d, nullptr, tmp,
                       dx_sc, grads);
    }
    float* da = ops.sized(g.a, out_count);
    bn_conv_backward(ops, b.conv2, b.bn2, params, bt.a1.data(), n, bt.ho, bt.wo, t.groups, bt.c2, bt.m2, bt.i2, d, nullptr,
                     tmp, da, grads);
    float* dx = ops.sized(g.next, in_count);
    bn_conv_backward(ops, b.conv1, b.bn1, params, x, n, bt.h, bt.w, t.groups, bt.c1, bt.m1, bt.i1, da, bt.a1.data(), da, dx,
                     grads);
    const float* skip = b.down ? dx_sc : d;  // identity shortcut: the gradient passes unchanged
    if (i > 0)
      ops.add_relu_backward(dx, skip, x, in_count);  // x: the previous block's output, after its ReLU
    else
      ops.add(dx, skip, in_count);  // (the stem's ReLU is masked inside its BN's backward)
    std::swap(g.cur, g.next);
  }
  float* d = g.cur.data();
  bn_conv_backward(ops, a.stem, a.stem_bn, params, t.x.data(), n, t.h, t.w, t.groups, t.c0, t.m0, t.i0, d, t.a0.data(), d,
                   nullptr, grads);
}

}  // namespace clsa::model
