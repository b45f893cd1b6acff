// The transforms of winograd_tiles.h. Each is a pass along rows (4 columns at a time with the
// vector extension, which every compiler here lowers to SSE) and a pass along columns (4 tiles
// at a time: 4x4 transposes in SSE registers turn the tiles' columns into vectors). Elsewhere,
// and for the last tiles of a row, one value at a time; the arithmetic is the same either way.
#include "winograd_tiles.h"
#include "fused_gradient.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// B^T (d0 ... d5) at the points 0, +-1, +-2 and infinity; written once as a macro so the scalar,
// 4-lane and SSE code compute the same expressions in the same order.
#define INPUT_POINTS(T, d0, d1, d2, d3, d4, d5, e)                                                \
    do {                                                                                          \
        T p_ = (d4) - 4.0f * (d2), q_ = (d3) - 4.0f * (d1), r_ = (d4) - (d2), s_ = 2.0f * ((d3) - (d1));   \
        e[0] = 4.0f * (d0) - 5.0f * (d2) + (d4);                                                        \
        e[1] = p_ + q_;                                                                           \
        e[2] = p_ - q_;                                                                           \
        e[3] = r_ + s_;                                                                           \
        e[4] = r_ - s_;                                                                           \
        e[5] = 4.0f * (d1) - 5.0f * (d3) + (d5);                                                        \
    } while (0)

// A^T (m0 ... m5): the 4 outputs along one side of a tile.
#define OUTPUT_VALUES(T, m0, m1, m2, m3, m4, m5, y)                                               \
    do {                                                                                          \
        T a_ = (m1) + (m2), b_ = (m1) - (m2), c_ = (m3) + (m4), d_ = (m3) - (m4);                 \
        y[0] = (m0) + a_ + c_;                                                                    \
        y[1] = b_ + 2.0f * d_;                                                                       \
        y[2] = a_ + 4.0f * c_;                                                                       \
        y[3] = b_ + 8.0f * d_ + (m5);                                                                \
    } while (0)

typedef float lanes4 __attribute__((vector_size(16)));

static inline lanes4 load4(const float *p) { lanes4 v; memcpy(&v, p, sizeof v); return v; }
static inline void store4(float *p, lanes4 v) { memcpy(p, &v, sizeof v); }

long smia_winograd_input_scratch(int tileRows, int tileColumns) {
    long columns = 4L * tileColumns + 2;
    return (4L * tileRows + 2) * columns + 6 * columns;
}

void smia_winograd_input_plane(const float *x, const float *mask, float scale, int h, int w, int ph, int pw,
                               int tileRows, int tileColumns, float *scratch, float *v, long stride) {
    const long rows = 4L * tileRows + 2, columns = 4L * tileColumns + 2;
    float *padded = scratch, *t = scratch + rows * columns;
    // The plane with its zero border, as far as whole tiles reach, the rule applied on the way.
    memset(padded, 0, sizeof(float) * (size_t)(rows * columns));
    for (int r = 0; r < h; r++) {
        const float *source = x + (long)r * w;
        float *target = padded + (r + ph) * columns + pw;
        if (!mask && scale == 1) {
            memcpy(target, source, sizeof(float) * (size_t)w);
        } else {
            const float *m = mask ? mask + (long)r * w : source;  // read only when `mask`
            for (int j = 0; j < w; j++) target[j] = smia_fused_gradient(source[j], m[j], mask != NULL, &scale);
        }
    }

    for (int tileRow = 0; tileRow < tileRows; tileRow++) {
        const float *d = padded + 4L * tileRow * columns;
        // B^T d: the six rows combined, over the whole padded width.
        long k = 0;
        for (; k + 4 <= columns; k += 4) {
            lanes4 e[6];
            INPUT_POINTS(lanes4, load4(d + k), load4(d + columns + k), load4(d + 2 * columns + k),
                         load4(d + 3 * columns + k), load4(d + 4 * columns + k), load4(d + 5 * columns + k), e);
            for (int i = 0; i < 6; i++) store4(t + i * columns + k, e[i]);
        }
        for (; k < columns; k++) {
            float e[6];
            INPUT_POINTS(float, d[k], d[columns + k], d[2 * columns + k], d[3 * columns + k], d[4 * columns + k],
                         d[5 * columns + k], e);
            for (int i = 0; i < 6; i++) t[i * columns + k] = e[i];
        }
        // (B^T d) B: per tile, from columns 4q ..< 4q + 6.
        float *first = v + (long)tileRow * tileColumns;
        for (int i = 0; i < 6; i++) {
            const float *row = t + i * columns;
            float *vi = first + (long)(6 * i) * stride;
            int q = 0;
#if defined(__x86_64__)
            for (; q + 4 <= tileColumns; q += 4) {
                const float *a = row + 4 * q;
                __m128 x0 = _mm_loadu_ps(a), x1 = _mm_loadu_ps(a + 4), x2 = _mm_loadu_ps(a + 8), x3 = _mm_loadu_ps(a + 12);
                __m128 y0 = _mm_loadu_ps(a + 2), y1 = _mm_loadu_ps(a + 6), y2 = _mm_loadu_ps(a + 10), y3 = _mm_loadu_ps(a + 14);
                _MM_TRANSPOSE4_PS(x0, x1, x2, x3);  // x_k: column 4(q + l) + k of the 4 tiles l
                _MM_TRANSPOSE4_PS(y0, y1, y2, y3);  // y_k: column 4(q + l) + 2 + k
                __m128 e[6];
                INPUT_POINTS(__m128, x0, x1, x2, x3, y2, y3, e);
                for (int j = 0; j < 6; j++) _mm_storeu_ps(vi + j * stride + q, e[j]);
            }
#endif
            for (; q < tileColumns; q++) {
                const float *a = row + 4 * q;
                float e[6];
                INPUT_POINTS(float, a[0], a[1], a[2], a[3], a[4], a[5], e);
                for (int j = 0; j < 6; j++) vi[j * stride + q] = e[j];
            }
        }
    }
}

long smia_winograd_output_scratch(int tileColumns) { return 24L * tileColumns + 16L * tileColumns; }

void smia_winograd_output_plane(const float *m, long stride, int tileRows, int tileColumns, int oh, int ow,
                                float *scratch, float *y) {
    const int tc = tileColumns;
    float *s = scratch, *rowsOut = scratch + 24L * tc;
    for (int tileRow = 0; tileRow < tileRows; tileRow++) {
        const float *first = m + (long)tileRow * tc;
        // A^T M: for each of the 6 columns j of the tiles, their 4 rows of outputs, s[r][j][q].
        for (int j = 0; j < 6; j++) {
            const float *mj = first + (long)j * stride;
            int q = 0;
            for (; q + 4 <= tc; q += 4) {
                lanes4 r[4];
                OUTPUT_VALUES(lanes4, load4(mj + q), load4(mj + 6 * stride + q), load4(mj + 12 * stride + q),
                              load4(mj + 18 * stride + q), load4(mj + 24 * stride + q), load4(mj + 30 * stride + q), r);
                for (int i = 0; i < 4; i++) store4(s + (6L * i + j) * tc + q, r[i]);
            }
            for (; q < tc; q++) {
                float r[4];
                OUTPUT_VALUES(float, mj[q], mj[6 * stride + q], mj[12 * stride + q], mj[18 * stride + q],
                              mj[24 * stride + q], mj[30 * stride + q], r);
                for (int i = 0; i < 4; i++) s[(6L * i + j) * tc + q] = r[i];
            }
        }
        // (A^T M) A: per output row i, each tile's 4 values side by side.
        for (int i = 0; i < 4; i++) {
            const float *a = s + 6L * i * tc;
            float *out = rowsOut + 4L * i * tc;
            int q = 0;
#if defined(__x86_64__)
            for (; q + 4 <= tc; q += 4) {
                __m128 r[4];
                OUTPUT_VALUES(__m128, _mm_loadu_ps(a + q), _mm_loadu_ps(a + tc + q), _mm_loadu_ps(a + 2 * tc + q),
                              _mm_loadu_ps(a + 3 * tc + q), _mm_loadu_ps(a + 4 * tc + q), _mm_loadu_ps(a + 5 * tc + q), r);
                _MM_TRANSPOSE4_PS(r[0], r[1], r[2], r[3]);  // r[l]: the 4 outputs of tile q + l
                for (int l = 0; l < 4; l++) _mm_storeu_ps(out + 4 * (q + l), r[l]);
            }
#endif
            for (; q < tc; q++) {
                float r[4];
                OUTPUT_VALUES(float, a[q], a[tc + q], a[2 * tc + q], a[3 * tc + q], a[4 * tc + q], a[5 * tc + q], r);
                for (int l = 0; l < 4; l++) out[4 * q + l] = r[l];
            }
        }
        for (int i = 0; i < 4 && 4 * tileRow + i < oh; i++)
            memcpy(y + (long)(4 * tileRow + i) * ow, rowsOut + 4L * i * tc, sizeof(float) * (size_t)ow);
    }
}
