#ifndef SMIA_DIRECT_CONVOLUTION_H
#define SMIA_DIRECT_CONVOLUTION_H

#include <stdbool.h>

/// A direct 3x3 convolution with stride 1 and padding 1 on row-major (N, C, H, W) float32
/// images, in AVX2 and FMA: for the few channels where a blocked layout (oneDNN's) wastes most
/// of its vector lanes on padding channels and on copying the images into and out of it.
///
/// The caller pads each input plane with a zero border first (`smia_conv3x3_pad`) and packs
/// the weights (`smia_conv3x3_pack`), then runs `smia_conv3x3_block` for every sample and
/// block of output channels (independent: any order, any thread).

/// Output channels computed together (one vector of accumulators per channel and 8 columns).
#define SMIA_CONV3X3_BLOCK 4

/// Whether this CPU runs the kernel (AVX2 and FMA, and the OS saves their registers).
bool smia_conv3x3_available(void);

/// Copies plane `x` (h x w) into `padded` ((h + 2) x (w + 2)) inside a border of zeros.
void smia_conv3x3_pad(const float *x, float *padded, int h, int w);

/// Packs weight (o, c, 3, 3) into `packed` (ceil(o / BLOCK), c, 3, 3, BLOCK), the output
/// channels of a block innermost; missing channels of the last block are zero.
void smia_conv3x3_pack(const float *weight, float *packed, int o, int c);

/// Output channels [block * BLOCK, min(o, block * BLOCK + BLOCK)) of one sample:
/// y (o, h, w) from the padded planes (c, h + 2, w + 2), the packed weights and `bias` (o
/// values, or NULL). w must be a multiple of 8.
void smia_conv3x3_block(const float *padded, const float *packed, const float *bias, float *y,
                        int c, int o, int h, int w, int block);

#endif
