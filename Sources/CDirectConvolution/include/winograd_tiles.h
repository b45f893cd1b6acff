#ifndef SMIA_WINOGRAD_TILES_H
#define SMIA_WINOGRAD_TILES_H

/// The input and output transforms of Winograd's F(4x4, 3x3) (WinogradConvolution.swift), one
/// channel plane of one image at a time. Tiles of 6x6 inputs overlap by 2 and give 4x4 outputs;
/// a plane has `tileRows` x `tileColumns` of them, numbered row by row, and the transformed
/// values of point xi (0..<36) of tile p are at `v[xi * stride + p]`.

/// How many floats of scratch `smia_winograd_input_plane` needs.
long smia_winograd_input_scratch(int tileRows, int tileColumns);

/// V = B^T d B for every tile of the plane d = `x` (h x w), read as if padded by `ph` rows above
/// and `pw` columns on the left and by zeros wherever the tiles reach past it. With a fused
/// layer's rule: d = (x * [mask > 0]) * scale when `mask` is given (ReLU's rule, `mask` the
/// layer's output laid out as `x`), else x * scale (exactly x when `scale` is 1).
void smia_winograd_input_plane(const float *x, const float *mask, float scale, int h, int w, int ph, int pw,
                               int tileRows, int tileColumns, float *scratch, float *v, long stride);

/// How many floats of scratch `smia_winograd_output_plane` needs.
long smia_winograd_output_scratch(int tileColumns);

/// Y = A^T M A for every tile of the plane, M read as `v` above, into the plane `y` (oh x ow;
/// the tiles' outputs past its edges are dropped).
void smia_winograd_output_plane(const float *m, long stride, int tileRows, int tileColumns, int oh, int ow,
                                float *scratch, float *y);

#endif
