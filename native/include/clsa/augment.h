/*
 * augment.h — the augmentation pipelines of CLSA (docs/augmentations.md), CPU and CUDA.
 *
 * Pipeline of one view, in the reference's order (MoCo v2 weak transforms, then RandAugment on
 * the PIL image before ToTensor, as the CLSA reference code does):
 *
 *   uint8 source [H, W, C]
 *   1. RandomResizedCrop: crop box drawn as torchvision does, resized to size x size with
 *      Pillow's antialiased bilinear resampling (triangle filter widened by the downscale
 *      factor, 22-bit fixed-point weights, horizontal pass then vertical, uint8 between passes)
 *   2. colour jitter with probability p: brightness, contrast, saturation, hue in a random order
 *      (PIL ImageEnhance blend formulas; hue through Pillow's HSV conversion)
 *   3. grayscale with probability p (Pillow's "L" conversion, replicated to 3 channels)
 *   4. Gaussian blur with probability p, sigma drawn uniformly: Pillow's GaussianBlur, i.e.
 *      three extended box blurs per axis (horizontal x3, then vertical x3, uint8 between)
 *   5. horizontal flip with probability p
 *   6. RandAugment (strong views only): n ops drawn with replacement from the 14 below, each
 *      applied with probability p, magnitude uniform in [magnitude_min, magnitude_max]
 *   7. ToTensor + Normalize: out = (x / 255 - mean[c]) / std[c], float32, planar [C, size, size]
 *
 * Every intermediate image is uint8, as in the reference (each PIL op returns an 8-bit image).
 * On 1-channel images saturation, hue, grayscale and the Color op are the identity (PIL "L").
 *
 * Randomness: all random choices are made by clsa_augment_draw on the host from a counter-based
 * generator keyed by (seed, image index, view index), so a draw does not depend on the order or
 * the thread in which images are processed. clsa_augment_apply is deterministic given the drawn
 * parameters; the CPU and CUDA executors run the same per-pixel code (integer and IEEE
 * double/float arithmetic without contraction), so their outputs agree for the same parameters.
 */
#ifndef CLSA_AUGMENT_H
#define CLSA_AUGMENT_H

#include "clsa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest RandAugment op count per view. */
#define CLSA_AUGMENT_MAX_OPS 16
/* Largest channel count (1 = grayscale, 3 = RGB are the supported values). */
#define CLSA_AUGMENT_MAX_CHANNELS 3
/* Largest number of views in one clsa_augment_apply call. */
#define CLSA_AUGMENT_MAX_VIEWS 64

/* The RandAugment ops, numbered in the order of the reference's op pool (FixMatch's 14). */
typedef enum clsa_augment_op {
  CLSA_RA_AUTOCONTRAST = 0, /* ImageOps.autocontrast(cutoff=0), per channel */
  CLSA_RA_BRIGHTNESS = 1,   /* ImageEnhance.Brightness, factor 0.05 + 0.09 v */
  CLSA_RA_COLOR = 2,        /* ImageEnhance.Color, factor 0.05 + 0.09 v (identity on 1 channel) */
  CLSA_RA_CONTRAST = 3,     /* ImageEnhance.Contrast, factor 0.05 + 0.09 v */
  CLSA_RA_EQUALIZE = 4,     /* ImageOps.equalize, per channel */
  CLSA_RA_IDENTITY = 5,
  CLSA_RA_POSTERIZE = 6,    /* ImageOps.posterize, 4 + floor(4 v / 10) bits kept */
  CLSA_RA_ROTATE = 7,       /* Image.rotate(+-3 v degrees), nearest, about the centre, no expand */
  CLSA_RA_SHARPNESS = 8,    /* ImageEnhance.Sharpness, factor 0.05 + 0.09 v */
  CLSA_RA_SHEAR_X = 9,      /* affine (1, +-0.03 v, 0, 0, 1, 0), nearest */
  CLSA_RA_SHEAR_Y = 10,     /* affine (1, 0, 0, +-0.03 v, 1, 0), nearest */
  CLSA_RA_SOLARIZE = 11,    /* ImageOps.solarize(256 - int(25.6 v)) */
  CLSA_RA_TRANSLATE_X = 12, /* affine (1, 0, t, 0, 1, 0), t = int(+-0.03 v * size) pixels */
  CLSA_RA_TRANSLATE_Y = 13, /* affine (1, 0, 0, 0, 1, t) */
  CLSA_RA_OP_COUNT = 14
} clsa_augment_op;

/* What to do to one view. All probabilities are in [0, 1]. */
typedef struct clsa_augment_view {
  int32_t size;             /* output side in pixels (square views), >= 1 */
  float scale_min;          /* RandomResizedCrop area fraction range, 0 < scale_min <= scale_max <= 1 */
  float scale_max;
  float ratio_min;          /* aspect ratio (w/h) range, 0 < ratio_min <= ratio_max (default 3/4, 4/3) */
  float ratio_max;
  float flip_p;             /* horizontal flip probability (0.5) */
  float jitter_p;           /* colour jitter probability (0.8) */
  float brightness;         /* jitter strengths: factors uniform in [max(0, 1 - x), 1 + x] (0.4) */
  float contrast;           /* (0.4) */
  float saturation;         /* (0.4) */
  float hue;                /* hue shift uniform in [-hue, hue], 0 <= hue <= 0.5 (0.1) */
  float grayscale_p;        /* (0.2) */
  float blur_p;             /* Gaussian blur probability (0.5) */
  float blur_sigma_min;     /* sigma range, 0 < min <= max ([0.1, 2]) */
  float blur_sigma_max;
  int32_t ra_n;             /* RandAugment ops per view, 0 .. CLSA_AUGMENT_MAX_OPS (0 = weak view; 5) */
  float ra_p;               /* probability each drawn op is applied (0.5) */
  int32_t ra_magnitude_min; /* magnitudes uniform in [min, max], 1 <= min <= max <= 9 ([1, 9]) */
  int32_t ra_magnitude_max;
  int32_t ra_fill;          /* grey level 0..255 for pixels the geometric ops uncover (128; the
                               FixMatch-PyTorch code the reference derives from leaves Pillow's
                               default black, 0) */
  float mean[CLSA_AUGMENT_MAX_CHANNELS]; /* Normalize mean per channel (only the first C used) */
  float std[CLSA_AUGMENT_MAX_CHANNELS];  /* Normalize std per channel, > 0 */
} clsa_augment_view;

/*
 * The drawn parameters of one (image, view). Fields marked "derived" are computed by
 * clsa_augment_draw from the drawn ones so that the executors need no transcendental maths;
 * a caller filling the struct by hand must fill them consistently (see augment.cpp).
 */
typedef struct clsa_augment_params {
  int32_t crop_x, crop_y;   /* top-left corner of the crop box in the source image */
  int32_t crop_w, crop_h;   /* crop box size, 1 <= crop_w <= W, 1 <= crop_h <= H */
  int32_t flip;             /* 1: mirror left-right (after blur, before RandAugment) */
  int32_t jitter;           /* 1: apply colour jitter */
  int32_t jitter_order[4];  /* a permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue;
                               an entry is -1 (skipped) when that strength is 0, as torchvision
                               skips a None factor (a zero hue would otherwise still round-trip
                               through HSV) */
  float brightness;         /* jitter factors (blend alphas) */
  float contrast;
  float saturation;
  float hue;                /* hue shift in turns, [-0.5, 0.5] */
  int32_t hue_shift;        /* derived: int(hue * 255), added to Pillow's 8-bit hue mod 256 */
  int32_t grayscale;        /* 1: convert to gray */
  int32_t blur;             /* 1: apply the Gaussian blur */
  float blur_sigma;         /* drawn sigma (Pillow's GaussianBlur "radius") */
  float blur_box_radius;    /* derived: Pillow's extended box radius for 3 passes */
  int32_t ra_count;         /* number of RandAugment slots used, 0 .. CLSA_AUGMENT_MAX_OPS */
  int32_t ra_op[CLSA_AUGMENT_MAX_OPS];        /* clsa_augment_op */
  int32_t ra_magnitude[CLSA_AUGMENT_MAX_OPS]; /* v, 1..9 */
  int32_t ra_sign[CLSA_AUGMENT_MAX_OPS];      /* +1 or -1 (used by rotate, shear, translate) */
  int32_t ra_applied[CLSA_AUGMENT_MAX_OPS];   /* 1: the op runs (drawn with probability ra_p) */
  int32_t ra_int[CLSA_AUGMENT_MAX_OPS];       /* derived: posterize bits, solarize threshold,
                                                 translate pixels; 0 for the others */
  float ra_factor[CLSA_AUGMENT_MAX_OPS];      /* derived: enhance factor, rotate degrees (signed),
                                                 shear (signed); 0 for the others */
  int32_t ra_affine[CLSA_AUGMENT_MAX_OPS][6]; /* derived, geometric ops: Pillow's 16.16 fixed-point
                                                 nearest affine: src_x = (a[2] + x a[0] + y a[1]) >> 16,
                                                 src_y = (a[5] + x a[3] + y a[4]) >> 16 (pixel
                                                 centres folded into a[2], a[5]) */
} clsa_augment_params;

/*
 * Draws the parameters of `n` images for one view. Image i of the call has the global index
 * image_offset + i; its draws come from a generator keyed by (seed, image_offset + i,
 * view_index) only. `params` is host memory for n structs. The source size (height, width)
 * is needed for the crop box; `channels` (1 or 3) for nothing but validation.
 */
CLSA_API clsa_status clsa_augment_draw(const clsa_augment_view* view, int64_t n, int32_t height, int32_t width,
                                       int32_t channels, uint64_t seed, int64_t image_offset, int32_t view_index,
                                       clsa_augment_params* params);

/* Recomputes the derived fields of `params` (hue_shift, blur_box_radius, ra_int, ra_factor,
 * ra_affine) from the drawn ones and the view's size: for callers that fill parameters by hand. */
CLSA_API clsa_status clsa_augment_derive(const clsa_augment_view* view, clsa_augment_params* params);

typedef struct clsa_augment_batch {
  int32_t device;            /* clsa_device of `images` and `outputs` */
  int32_t device_index;      /* GPU ordinal for CUDA */
  const uint8_t* images;     /* [n, height, width, channels] uint8, row-major */
  int32_t images_on_host;    /* CUDA only: 1 = `images` is host memory, uploaded by the call */
  int64_t n;                 /* images, >= 0 */
  int32_t height, width;     /* source size, >= 1 */
  int32_t channels;          /* 1 or 3 */
  int32_t view_count;        /* 1 .. CLSA_AUGMENT_MAX_VIEWS */
  const clsa_augment_view* views;     /* host memory, [view_count] */
  const clsa_augment_params* params;  /* host memory, [view_count][n] (view-major) */
  float* const* outputs;     /* host array of view_count pointers, output v is
                                [n, channels, views[v].size, views[v].size] float32 in the
                                device's memory space */
  void* stream;              /* cudaStream_t for CUDA (NULL = default); ignored on the CPU */
} clsa_augment_batch;

/*
 * Runs the pipelines. CPU: multithreaded over (view, image) pairs with the library's pool.
 * CUDA: one launch for all pairs, one thread block per pair; returns after the kernel has been
 * enqueued and the parameters copied (synchronise the stream before reading the outputs).
 * Parameters are validated (crop inside the image, op ids, flags) before anything runs.
 */
CLSA_API clsa_status clsa_augment_apply(const clsa_augment_batch* batch);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CLSA_AUGMENT_H */
