/* KernelABI.h - the calling convention between generated kernels and the runtime.
 *
 * Plain C so that the codegen (which emits it in LLVM IR) and the runtime (which
 * calls it) agree without sharing any other code.
 */
#ifndef KILN_RUNTIME_KERNELABI_H
#define KILN_RUNTIME_KERNELABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* buffers[0..num_inputs) are the kernel's inputs, buffers[num_inputs] its output;
 * batch is the runtime batch size; the call runs tasks [task_begin, task_end);
 * scratch is this thread's private scratch (Kernel.scratch_bytes, 64-byte aligned). */
typedef void (*kiln_cpu_kernel_fn)(float *const *buffers, int64_t batch,
                                   int64_t task_begin, int64_t task_end,
                                   float *scratch);

/* The elementwise stage a forward convolution below applies to each output
 * value v of channel co before storing it, in this order, each step only
 * where its pointer is set (relu: where nonzero):
 *   v = v + bias[co]
 *   v = fma(v - bn_mean[co], s, bn_bias[co]),  s = bn_weight[co] / sqrt(bn_var[co] + bn_eps)
 *   v = v + residual[i]     (i: the index of v in the call's output, as out[i])
 *   v = v > 0 ? v : 0       (relu)
 * It is the epilogue conv -> bias -> batch_norm (inference) -> add -> relu
 * of a ResNet block, computed with the same operations as the compiler's
 * generic epilogue, fused so that the output is written once and the
 * residual is read while the convolution's FMAs run. NULL: no stage. */
typedef struct kiln_conv2d_epilogue {
  const float *bias;
  const float *bn_weight, *bn_bias, *bn_mean, *bn_var;
  const float *residual;
  float bn_eps;
  int32_t relu;
} kiln_conv2d_epilogue;

/* Library functions the runtime provides to generated kernels (besides
 * OpenBLAS's cblas_sgemm). Direct "same" convolution of one image, stride 1,
 * dilation 1, one group, oh == h and ow == w (runtime/src/kernels/DirectConv.cpp):
 *   out[co * ld + (oy - oy0) * w + ox] =
 *     sum_{ci, ky, kx} wt[co * wsCo + ci * wsCi + ky * wsY + kx * wsX]
 *                      * x[(ci * h + oy + ky - ph) * w + ox + kx - pw]   (0 outside)
 * for co < cout, oy0 <= oy < oy1, ox < w. */
void kiln_conv2d_same_f32(const float *x, const float *wt, float *out, int64_t ld,
                          int64_t cin, int64_t h, int64_t w, int64_t cout, int64_t kh,
                          int64_t kw, int64_t ph, int64_t pw, int64_t wsCo, int64_t wsCi,
                          int64_t wsY, int64_t wsX, int64_t oy0, int64_t oy1,
                          const kiln_conv2d_epilogue *epilogue);

/* The same convolution of `images` whole images (x + n * xImage, written to
 * out + n * outImage with channel stride h * w), bitwise equal to one
 * kiln_conv2d_same_f32 call per image; small planes (7x7, 14x14) run faster
 * this way. scratch: (cin + cout) * images * h * w floats. */
void kiln_conv2d_same_images_f32(const float *x, const float *wt, float *out, float *scratch,
                                 int64_t images, int64_t xImage, int64_t outImage, int64_t cin,
                                 int64_t h, int64_t w, int64_t cout, int64_t kh, int64_t kw,
                                 int64_t ph, int64_t pw, int64_t wsCo, int64_t wsCi,
                                 int64_t wsY, int64_t wsX, const kiln_conv2d_epilogue *epilogue);
/* The weight gradient of that "same" convolution, summed over `batch` images (x: [batch, cin, h, w],
 * dy: [batch, cout, h, w]) for input channels ci0 <= ci < ci1:
 *   dw[(co * cin + ci) * kh * kw + ky * kw + kx] =
 *     sum_{n, oy, ox} dy[n, co, oy, ox] * x[n, ci, oy + ky - ph, ox + kx - pw]
 * scratch: cout * (ci1 - ci0) * kh * kw * 16 floats (64-byte alignment is
 * fastest; any float alignment works), and where h * w < 128 (small planes
 * are packed, G = 1024 / (h * w) images at a time) also
 * roundup16((ci1 - ci0) * G * h * w) + roundup16(cout * G * h * w) floats. */
void kiln_conv2d_same_grad_weight_f32(const float *x, const float *dy, float *dw,
                                      float *scratch, int64_t batch, int64_t cin, int64_t h,
                                      int64_t w, int64_t cout, int64_t kh, int64_t kw,
                                      int64_t ph, int64_t pw, int64_t ci0, int64_t ci1);

/* A 3x3 convolution with padding 1 and stride 2 of even h x w planes
 * (x: images of [cin, h, w], wt: [cout, cin, 3, 3]), for output rows
 * row0 <= n * (h/2) + oy < row1 of out ([cout, h/2, w/2] per image):
 *   out[n, co, oy, ox] = sum_{ci, ky, kx} wt[co, ci, ky, kx]
 *                        * x[n, ci, 2oy + ky - 1, 2ox + kx - 1]   (0 outside)
 * scratch: (4 * cin + cout) * images * (h/2) * (w/2) floats, images being
 * how many images the rows touch. */
void kiln_conv2d_stride2_f32(const float *x, const float *wt, float *out, float *scratch,
                             int64_t row0, int64_t row1, int64_t cin, int64_t h, int64_t w,
                             int64_t cout, const kiln_conv2d_epilogue *epilogue);
/* Its input gradient for one image (dy: [cout, h/2, w/2], dx: [cin, h, w]):
 *   dx[ci, iy, ix] = sum over (co, ky, kx, oy, ox) with 2oy + ky - 1 = iy and
 *                    2ox + kx - 1 = ix of wt[co, ci, ky, kx] * dy[co, oy, ox]
 * scratch: cin * (h/2) * (w/2) floats. */
void kiln_conv2d_stride2_grad_input_f32(const float *dy, const float *wt, float *dx,
                                        float *scratch, int64_t cin, int64_t h, int64_t w,
                                        int64_t cout);
/* Its weight gradient, summed over `batch` images (dy: [batch, cout, h/2,
 * w/2]) for input channels ci0 <= ci < ci1:
 *   dw[(co * cin + ci) * 9 + ky * 3 + kx] =
 *     sum_{n, oy, ox} dy[n, co, oy, ox] * x[n, ci, 2oy + ky - 1, 2ox + kx - 1]
 * scratch: cout * (ci1 - ci0) * 9 * 16 + G * (ci1 - ci0) * 4 * P floats,
 * P = (h/2) * (w/2), G = max(1, 64 / ceil(P / 16)) images per group. */
void kiln_conv2d_stride2_grad_weight_f32(const float *x, const float *dy, float *dw,
                                         float *scratch, int64_t batch, int64_t cin, int64_t h,
                                         int64_t w, int64_t cout, int64_t ci0, int64_t ci1);

/* The scratch sizes above as functions, so that the compiler (which sizes
 * each kernel's scratch) and the runtime (which lays its scratch out) use one
 * formula. G of kiln_conv2d_same_grad_weight_f32: images packed per plane. */
static inline int64_t kiln_conv2d_grad_weight_pack_images(int64_t plane) {
  return plane < 128 ? 1024 / plane : 1;
}
/* G of kiln_conv2d_stride2_grad_weight_f32: images per group of about 64
 * 16-pixel vectors of a P-pixel plane. */
static inline int64_t kiln_conv2d_grad_weight_group_images(int64_t plane) {
  const int64_t g = 64 / ((plane + 15) / 16);
  return g > 1 ? g : 1;
}
static inline int64_t kiln_roundup16(int64_t n) { return (n + 15) / 16 * 16; }
/* Scratch floats of kiln_conv2d_same_grad_weight_f32 for ci1 - ci0 = channels. */
static inline int64_t kiln_conv2d_same_grad_weight_scratch_floats(int64_t cout, int64_t channels,
                                                                  int64_t kh, int64_t kw,
                                                                  int64_t h, int64_t w) {
  const int64_t plane = h * w, packed = kiln_conv2d_grad_weight_pack_images(plane);
  const int64_t lanes = cout * channels * kh * kw * 16;
  return packed > 1 ? lanes + kiln_roundup16(channels * packed * plane) +
                          kiln_roundup16(cout * packed * plane)
                    : lanes;
}
/* Scratch floats of kiln_conv2d_stride2_grad_weight_f32 for ci1 - ci0 = channels. */
static inline int64_t kiln_conv2d_stride2_grad_weight_scratch_floats(int64_t cout,
                                                                     int64_t channels, int64_t h,
                                                                     int64_t w) {
  const int64_t plane = (h / 2) * (w / 2);
  return cout * channels * 9 * 16 +
         kiln_conv2d_grad_weight_group_images(plane) * channels * 4 * plane;
}

/* Rows (n, oy) in [row0, row1) of a convolution of x: [N, cin, h, w] with
 * weights stored [kh][kw][cin][cout] (output channels contiguous), stride
 * `stride` and padding (ph, pw) in both directions, one group, dilation 1:
 *   out[n, co, oy, ox] = sum over (ky, kx, ci) inside the image of
 *     wt[((ky * kw + kx) * cin + ci) * cout + co]
 *     * x[n, ci, stride oy + ky - ph, stride ox + kx - pw]
 * (out: [N, cout, oh, ow], oh = (h + 2 ph - kh) / stride + 1, ow alike),
 * then the epilogue. The layout inference artifacts give convolutions that
 * the direct "same" entries do not take (stride 2, ResNet's 3x3 and 1x1
 * downsampling; "valid" windows, lenet5's second convolution) where
 * kiln_conv2d_channels_in_lanes(oh, ow, cout) holds and the stride is 1 or
 * 2: channels in lanes, no scratch, taps summed before input channels as in
 * every other convolution entry. Other shapes run a plain loop. */
void kiln_conv2d_hwio_f32(const float *x, const float *wt, float *out, int64_t row0,
                          int64_t row1, int64_t cin, int64_t h, int64_t w, int64_t cout,
                          int64_t kh, int64_t kw, int64_t stride, int64_t ph, int64_t pw,
                          const kiln_conv2d_epilogue *epilogue);

/* Where kiln_conv2d_same_f32 (and kiln_conv2d_same_images_f32, one image at
 * a time) puts output channels in the vector lanes instead of pixels: planes
 * of at most 28 columns and 784 pixels (a 7x7 plane fills 49 of 64 pixel
 * lanes, a 2-thread split of 14x14 98 of 112; on 28x28 the blocks skip the
 * FMAs of taps outside the image, which pixel lanes mask; larger planes have
 * not been measured against pixel lanes), cout a multiple of 16, and
 * weights whose
 * output channels are contiguous (wsCo == 1, e.g. stored [kh][kw][cin][cout]).
 * The compiler stores the weights of such convolutions that way in inference
 * artifacts (kiln-pack-conv-weights), where they do not change; any weight
 * strides stay correct, only this path needs wsCo == 1. */
static inline int kiln_conv2d_channels_in_lanes(int64_t h, int64_t w, int64_t cout) {
  return w <= 28 && h * w <= 784 && cout % 16 == 0;
}

/* Version 2: kernels may call kiln_conv2d_same_f32 and
 * kiln_conv2d_same_grad_weight_f32, which older runtimes lack.
 * Version 3: and kiln_conv2d_same_images_f32, kiln_conv2d_stride2_f32,
 * kiln_conv2d_stride2_grad_input_f32 and kiln_conv2d_stride2_grad_weight_f32;
 * the weight gradient's scratch grew for small planes.
 * Version 4: the forward convolutions (kiln_conv2d_same_f32,
 * kiln_conv2d_same_images_f32, kiln_conv2d_stride2_f32) take a
 * kiln_conv2d_epilogue.
 * Version 5: and kiln_conv2d_hwio_f32. */
#define KILN_ARTIFACT_SCHEMA_VERSION 5u
#define KILN_ARENA_ALIGNMENT 64

#ifdef __cplusplus
}
#endif

#endif
