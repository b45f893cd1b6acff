// The gradient of a fused convolution's result taken back through its epilogue, one value, for
// the kernels of this target that apply it on the way (channel_blocks.c, winograd_tiles.c):
// g·[output > 0] when `mask` (ReLU's rule), then ·scale (the batch norm's). The arithmetic of
// ConvolutionEpilogue.convolutionOutputGradient, so every copy agrees with it to the bit.
#ifndef SMIA_FUSED_GRADIENT_H
#define SMIA_FUSED_GRADIENT_H

#include <stdbool.h>

static inline float smia_fused_gradient(float g, float output, bool mask, const float *scale) {
    float y = g;
    if (mask) y = y * (output > 0 ? 1.0f : 0.0f);
    if (scale) y = y * *scale;
    return y;
}

#endif
