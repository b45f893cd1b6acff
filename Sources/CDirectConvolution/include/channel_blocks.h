#ifndef SMIA_CHANNEL_BLOCKS_H
#define SMIA_CHANNEL_BLOCKS_H

#include <stdbool.h>

/// One channel block of a convolution's output in oneDNN's channel-blocked layout (`nChw8c`,
/// `nChw16c`: `block` channels interleaved pixel by pixel, `inner` pixels) copied to our plain
/// layout (one row of `inner` values per channel, rows `inner` apart, the first `channels` of
/// the block) with the fused epilogue applied on the way: z·scale[c] + shift[c] when `scale` is
/// given (two roundings, as the batch norm's kernel), + residual (laid out as `out`) when given,
/// then max(·, 0) when `relu` (NaN gives 0). `block` is a multiple of 4.
void smia_unblock_channels(const float *blocked, float *out, int block, int channels, long inner,
                           const float *scale, const float *shift, const float *residual, bool relu);

/// The reverse direction, for the gradient: one channel block of the gradient of a fused
/// convolution's result `g` (our layout, as `out` above) taken back through its epilogue,
/// g·[output > 0] when `mask` (ReLU's rule; `output` is the fused result), then ·scale[c] when
/// `scale` is given (the batch norm's), written into `blocked` in oneDNN's layout; the block's
/// channels from `channels` on (the padding) are zero.
void smia_block_channels_gradient(const float *g, const float *output, float *blocked, int block, int channels, long inner,
                                  const float *scale, bool mask);

#endif
