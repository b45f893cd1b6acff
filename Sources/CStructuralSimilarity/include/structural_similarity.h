#ifndef SMIA_STRUCTURAL_SIMILARITY_H
#define SMIA_STRUCTURAL_SIMILARITY_H

/// The sum of one plane's SSIM map (Wang et al. 2004) over the valid region, for
/// StructuralSimilarity.swift: an 11x11 separable window whose taps `k` (11 values) are symmetric,
/// the five windowed moments (means of x, y, x², y², xy) filtered along rows then columns.
/// h and w must be larger than 11. `scratch` holds smia_ssim_scratch(h, w) floats; planes with
/// their own scratch are independent (any order, any thread).
double smia_ssim_plane_sum(const float *x, const float *y, int h, int w, const float *k, float c1, float c2,
                           float *scratch);

/// Floats of scratch smia_ssim_plane_sum needs for an h x w plane.
long smia_ssim_scratch(int h, int w);

#endif
