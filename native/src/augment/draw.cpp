// Drawing the random parameters of a view (host only), and the fields derived from them.
//
// Each (seed, image, view) has its own counter-based stream (splitmix64 keyed by a hash of the
// three), so a draw is independent of the order, thread or batch in which images are drawn.
// The choices follow torchvision / the reference code: RandomResizedCrop.get_params (10 tries,
// then the centre-crop fallback), ColorJitter.get_params, RandomApply coins, MoCo v2's
// GaussianBlur sigma, RandAugmentMC (random.choices with replacement, randint(1, 10), p coin,
// random sign inside the signed ops).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "augment/draw.h"

#include <cmath>

namespace clsa::aug {
namespace {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Stream {
 public:
  Stream(uint64_t seed, uint64_t image, uint64_t view) {
    s_ = mix64(mix64(seed ^ 0x5851F42D4C957F2Dull) + image);
    s_ = mix64(s_ + 0x9E3779B97F4A7C15ull * (view + 1));
  }
  uint64_t next() {
    s_ += 0x9E3779B97F4A7C15ull;
    return mix64(s_);
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  // Integer uniform in [lo, hi] (inclusive).
  int64_t randint(int64_t lo, int64_t hi) {
    const uint64_t span = uint64_t(hi - lo) + 1;
    return lo + int64_t((unsigned __int128)next() * span >> 64);
  }

 private:
  uint64_t s_;
};

// Pillow's _gaussian_blur_radius (BoxBlur.c) for 3 passes, with its float/double mix.
float gaussian_box_radius(float radius) {
  const int passes = 3;
  float sigma2 = radius * radius / passes;
  float L = float(std::sqrt(12.0 * sigma2 + 1.0));
  float l = float(std::floor((L - 1.0) / 2.0));
  float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  return l + a;
}

// Image.transform's FIX: 16.16 fixed point, FLOOR(v * 65536 + 0.5).
int32_t fix16(double v) {
  const double x = v * 65536.0 + 0.5;
  return x < 0.0 ? int32_t(std::floor(x)) : int32_t(x);
}

// The 6 fixed-point coefficients Pillow's affine_fixed uses for matrix m (pixel centres folded in).
void fixed_affine(const double m[6], int32_t out[6]) {
  out[0] = fix16(m[0]);
  out[1] = fix16(m[1]);
  out[2] = fix16(m[2] + m[1] * 0.5 + m[0] * 0.5);
  out[3] = fix16(m[3]);
  out[4] = fix16(m[4]);
  out[5] = fix16(m[5] + m[4] * 0.5 + m[3] * 0.5);
}

double round15(double x) { return std::nearbyint(x * 1e15) / 1e15; }

// Image.rotate(angle) without expand, about (w/2, h/2).
void rotate_matrix(double degrees, int w, int h, double m[6]) {
  double angle = std::fmod(degrees, 360.0);
  if (angle < 0) angle += 360.0;  // Python's % has the sign of the divisor
  const double t = -(angle * (M_PI / 180.0));
  m[0] = round15(std::cos(t));
  m[1] = round15(std::sin(t));
  m[2] = 0.0;
  m[3] = round15(-std::sin(t));
  m[4] = round15(std::cos(t));
  m[5] = 0.0;
  const double cx = w / 2.0, cy = h / 2.0;
  const double x = -cx, y = -cy;
  const double tx = m[0] * x + m[1] * y + m[2];
  const double ty = m[3] * x + m[4] * y + m[5];
  m[2] = tx + cx;
  m[5] = ty + cy;
}

}  // namespace

void derive(const clsa_augment_view& view, clsa_augment_params& p) {
  p.hue_shift = int32_t(p.hue * 255.0);  // truncation toward zero, then mod 256 in the pipeline
  p.blur_box_radius = gaussian_box_radius(p.blur_sigma);
  const int s = view.size;
  for (int k = 0; k < CLSA_AUGMENT_MAX_OPS; ++k) {
    p.ra_int[k] = 0;
    p.ra_factor[k] = 0.0f;
    for (int j = 0; j < 6; ++j) p.ra_affine[k][j] = 0;
    if (k >= p.ra_count) continue;
    const int v = p.ra_magnitude[k];
    const double sign = p.ra_sign[k] < 0 ? -1.0 : 1.0;
    double m[6] = {1, 0, 0, 0, 1, 0};
    switch (p.ra_op[k]) {
      case CLSA_RA_BRIGHTNESS:
      case CLSA_RA_COLOR:
      case CLSA_RA_CONTRAST:
      case CLSA_RA_SHARPNESS:
        p.ra_factor[k] = float(double(v) * 0.9 / 10.0 + 0.05);
        break;
      case CLSA_RA_POSTERIZE: p.ra_int[k] = int32_t(double(v) * 4.0 / 10.0) + 4; break;
      case CLSA_RA_SOLARIZE: p.ra_int[k] = 256 - int32_t(double(v) * 256.0 / 10.0); break;
      case CLSA_RA_ROTATE: {
        const double deg = sign * double(int32_t(double(v) * 30.0 / 10.0));
        p.ra_factor[k] = float(deg);
        rotate_matrix(deg, s, s, m);
        fixed_affine(m, p.ra_affine[k]);
        break;
      }
      case CLSA_RA_SHEAR_X:
      case CLSA_RA_SHEAR_Y: {
        const double sh = sign * (double(v) * 0.3 / 10.0);
        p.ra_factor[k] = float(sh);
        (p.ra_op[k] == CLSA_RA_SHEAR_X ? m[1] : m[3]) = sh;
        fixed_affine(m, p.ra_affine[k]);
        break;
      }
      case CLSA_RA_TRANSLATE_X:
      case CLSA_RA_TRANSLATE_Y: {
        const int32_t t = int32_t(sign * (double(v) * 0.3 / 10.0) * double(s));
        p.ra_int[k] = t;
        (p.ra_op[k] == CLSA_RA_TRANSLATE_X ? m[2] : m[5]) = double(t);
        fixed_affine(m, p.ra_affine[k]);
        break;
      }
      default: break;
    }
  }
}

void draw_one(const clsa_augment_view& view, int32_t H, int32_t W, uint64_t seed, uint64_t image, uint64_t view_index,
              clsa_augment_params& p) {
  Stream r(seed, image, view_index);
  p = clsa_augment_params{};

  // RandomResizedCrop.get_params
  const double area = double(H) * double(W);
  const double log_r0 = std::log(double(view.ratio_min)), log_r1 = std::log(double(view.ratio_max));
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * r.uniform(view.scale_min, view.scale_max);
    const double aspect = std::exp(r.uniform(log_r0, log_r1));
    const int64_t w = int64_t(std::nearbyint(std::sqrt(target * aspect)));  // Python round: half to even
    const int64_t h = int64_t(std::nearbyint(std::sqrt(target / aspect)));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      p.crop_y = int32_t(r.randint(0, H - h));
      p.crop_x = int32_t(r.randint(0, W - w));
      p.crop_w = int32_t(w);
      p.crop_h = int32_t(h);
      found = true;
    }
  }
  if (!found) {  // centre crop at the nearest allowed ratio
    const double in_ratio = double(W) / double(H);
    int64_t w, h;
    if (in_ratio < view.ratio_min) {
      w = W;
      h = int64_t(std::nearbyint(w / double(view.ratio_min)));
    } else if (in_ratio > view.ratio_max) {
      h = H;
      w = int64_t(std::nearbyint(h * double(view.ratio_max)));
    } else {
      w = W;
      h = H;
    }
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if (w > W) w = W;
    if (h > H) h = H;
    p.crop_w = int32_t(w);
    p.crop_h = int32_t(h);
    p.crop_y = int32_t((H - h) / 2);
    p.crop_x = int32_t((W - w) / 2);
  }

  // RandomApply(ColorJitter, p): coin, order (randperm), factors.
  p.jitter = r.uniform() < view.jitter_p ? 1 : 0;
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) {
    const int j = int(r.randint(0, i));
    const int t = order[i]; order[i] = order[j]; order[j] = t;
  }
  const float strength[4] = {view.brightness, view.contrast, view.saturation, view.hue};
  for (int i = 0; i < 4; ++i) p.jitter_order[i] = strength[order[i]] > 0.0f ? order[i] : -1;
  auto factor = [&](float x) { return float(r.uniform(x < 1.0f ? 1.0 - x : 0.0, 1.0 + x)); };
  p.brightness = factor(view.brightness);
  p.contrast = factor(view.contrast);
  p.saturation = factor(view.saturation);
  p.hue = float(r.uniform(-double(view.hue), double(view.hue)));

  // RandomGrayscale, RandomApply(GaussianBlur), RandomHorizontalFlip.
  p.grayscale = r.uniform() < view.grayscale_p ? 1 : 0;
  p.blur = r.uniform() < view.blur_p ? 1 : 0;
  p.blur_sigma = float(r.uniform(view.blur_sigma_min, view.blur_sigma_max));
  p.flip = r.uniform() < view.flip_p ? 1 : 0;

  // RandAugmentMC: ops with replacement, magnitude, apply coin, sign.
  p.ra_count = view.ra_n;
  for (int k = 0; k < view.ra_n; ++k) {
    p.ra_op[k] = int32_t(r.randint(0, CLSA_RA_OP_COUNT - 1));
    p.ra_magnitude[k] = int32_t(r.randint(view.ra_magnitude_min, view.ra_magnitude_max));
    p.ra_applied[k] = r.uniform() < view.ra_p ? 1 : 0;
    p.ra_sign[k] = r.uniform() < 0.5 ? -1 : 1;
  }
  derive(view, p);
}

}  // namespace clsa::aug
