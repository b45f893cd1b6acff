// The SSIM plane sum of structural_similarity.h. Written once with the 8-lane vector extension
// and compiled twice (target_clones): with AVX, where one instruction takes 8 lanes, and for
// plain x86-64, where the compiler uses two SSE instructions; the loader picks the one the CPU
// runs. The arithmetic is the same in both, and the same for a position in the lanes or in a
// tail: no contraction into fused multiply-adds, so the figures do not depend on the CPU.
#include "structural_similarity.h"

#include <string.h>

#pragma STDC FP_CONTRACT OFF

enum { WINDOW = 11, RADIUS = 5, LANES = 8 };

// 8 lanes, loaded from and stored to any float's address by macros, not functions: a function
// taking or returning 8 lanes has a different calling convention with AVX than without.
typedef float lanes8 __attribute__((vector_size(32)));
#define LOAD8(p) ({ lanes8 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define STORE8(p, v) do { lanes8 v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)

// One line of `count` outputs: dst[j] = sum over t of k[t] src[j + t step], step 1 along a row or
// `ow` down the columns of the row-filtered moments. The two taps at the same distance from the
// centre share one multiplication. Past the last whole 8 positions, the last 8 again (a position
// computed twice gets the same value), or one position at a time in a line shorter than 8.
static inline __attribute__((always_inline)) void filter(const float *src, long step, float *dst, int count,
                                                         const float *k) {
#define AT(t) LOAD8(src + (t) * step + j)
#define FILTER8(j)                                                                                \
    do {                                                                                          \
        lanes8 sum = k[5] * AT(5);                                                                \
        sum += k[0] * (AT(0) + AT(10));                                                           \
        sum += k[1] * (AT(1) + AT(9));                                                            \
        sum += k[2] * (AT(2) + AT(8));                                                            \
        sum += k[3] * (AT(3) + AT(7));                                                            \
        sum += k[4] * (AT(4) + AT(6));                                                            \
        STORE8(dst + j, sum);                                                                     \
    } while (0)
    if (count >= LANES) {
        for (int j = 0; j + LANES <= count; j += LANES) FILTER8(j);
        if (count % LANES) {
            int j = count - LANES;
            FILTER8(j);
        }
        return;
    }
    for (int j = 0; j < count; j++) {
        float sum = k[RADIUS] * src[RADIUS * step + j];
        for (int t = 0; t < RADIUS; t++) sum += k[t] * (src[t * step + j] + src[(WINDOW - 1 - t) * step + j]);
        dst[j] = sum;
    }
#undef FILTER8
#undef AT
}

// The SSIM map at positions j ... j + 7 of one output row, from its five moments m (5 x ow).
#define SSIM8(m, ow, j, c1, c2)                                                                   \
    ({                                                                                            \
        lanes8 mx = LOAD8(m + (j)), my = LOAD8(m + (ow) + (j));                                   \
        lanes8 sxx = LOAD8(m + 2 * (ow) + (j)) - mx * mx, syy = LOAD8(m + 3 * (ow) + (j)) - my * my; \
        lanes8 sxy = LOAD8(m + 4 * (ow) + (j)) - mx * my;                                         \
        (mx * my * 2.0f + (c1)) * (sxy * 2.0f + (c2)) / ((mx * mx + my * my + (c1)) * (sxx + syy + (c2))); \
    })

long smia_ssim_scratch(int h, int w) {
    long ow = w - WINDOW + 1;
    return 5L * h * ow + 5L * w + 5L * ow;
}

// The AVX clone exists on x86-64 only; elsewhere the one function is compiled as usual.
#if defined(__x86_64__)
#define CLONED_FOR_AVX __attribute__((target_clones("avx", "default")))
#else
#define CLONED_FOR_AVX
#endif

CLONED_FOR_AVX
double smia_ssim_plane_sum(const float *x, const float *y, int h, int w, const float *k, float c1, float c2,
                           float *scratch) {
    const int oh = h - WINDOW + 1, ow = w - WINDOW + 1;
    float *filtered = scratch;            // 5 moments x h rows x ow
    float *row = filtered + 5L * h * ow;  // one row of each moment's input
    float *m = row + 5L * w;              // one output row of each moment
    // Rows: each moment's input row, filtered at the ow positions where the window fits.
    for (int i = 0; i < h; i++) {
        const float *xr = x + (long)i * w, *yr = y + (long)i * w;
        for (int j = 0; j < w; j++) {
            float u = xr[j], v = yr[j];
            row[j] = u;
            row[w + j] = v;
            row[2 * w + j] = u * u;
            row[3 * w + j] = v * v;
            row[4 * w + j] = u * v;
        }
        for (int q = 0; q < 5; q++) filter(row + (long)q * w, 1, filtered + ((long)q * h + i) * ow, ow, k);
    }
    // Columns, then the map of each output row, summed in lanes (added up from lane 0) and the tail.
    double total = 0;
    for (int i = 0; i < oh; i++) {
        for (int q = 0; q < 5; q++) filter(filtered + ((long)q * h + i) * ow, ow, m + (long)q * ow, ow, k);
        lanes8 sums = {0};
        int j = 0;
        for (; j + LANES <= ow; j += LANES) sums += SSIM8(m, ow, j, c1, c2);
        float rowSum = 0;
        for (int lane = 0; lane < LANES; lane++) rowSum += sums[lane];
        if (j < ow && ow >= LANES) {
            // The last 8 positions again, of which only those past j are added.
            lanes8 last = SSIM8(m, ow, ow - LANES, c1, c2);
            for (int lane = LANES - (ow - j); lane < LANES; lane++) rowSum += last[lane];
        } else {
            for (; j < ow; j++) {
                float mx = m[j], my = m[ow + j];
                float sxx = m[2 * ow + j] - mx * mx, syy = m[3 * ow + j] - my * my, sxy = m[4 * ow + j] - mx * my;
                rowSum += (mx * my * 2.0f + c1) * (sxy * 2.0f + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
            }
        }
        total += rowSum;
    }
    return total;
}
