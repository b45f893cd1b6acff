// The copy out of oneDNN's channel-blocked layout of channel_blocks.h. Four channels of four
// pixels at a time: four loads, a 4x4 transpose in registers, four stores of a row each (SSE,
// which every x86-64 CPU has); elsewhere, and for the last pixels, one value at a time. The
// arithmetic is the same either way (separate multiply and add, never fused).
#include "channel_blocks.h"
#include "fused_gradient.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float finish(float z, const float *scale, const float *shift, const float *residual, long i, int c, bool relu) {
    float y = z;
    if (scale) {
        y = y * scale[c];
        y = y + shift[c];
    }
    if (residual) y = y + residual[i];
    if (relu) y = y > 0 ? y : 0;
    return y;
}

void smia_unblock_channels(const float *blocked, float *out, int block, int channels, long inner,
                           const float *scale, const float *shift, const float *residual, bool relu) {
#if defined(__x86_64__)
    const long vectorPixels = inner / 4 * 4;
    const __m128 zero = _mm_setzero_ps();
    for (int q = 0; q + 4 <= channels; q += 4) {
        __m128 s[4], t[4];
        for (int j = 0; j < 4; j++) {
            s[j] = _mm_set1_ps(scale ? scale[q + j] : 1);
            t[j] = _mm_set1_ps(shift ? shift[q + j] : 0);
        }
        for (long p = 0; p < vectorPixels; p += 4) {
            const float *src = blocked + p * block + q;
            __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + block);
            __m128 r2 = _mm_loadu_ps(src + 2 * block), r3 = _mm_loadu_ps(src + 3 * block);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            __m128 rows[4] = {r0, r1, r2, r3};
            for (int j = 0; j < 4; j++) {
                __m128 y = rows[j];
                long at = (long)(q + j) * inner + p;
                if (scale) y = _mm_add_ps(_mm_mul_ps(y, s[j]), t[j]);
                if (residual) y = _mm_add_ps(y, _mm_loadu_ps(residual + at));
                if (relu) y = _mm_and_ps(y, _mm_cmpgt_ps(y, zero));
                _mm_storeu_ps(out + at, y);
            }
        }
    }
    // The channels the vector loop covered; their last pixels below.
    const int vectorChannels = channels / 4 * 4;
    for (int c = 0; c < vectorChannels; c++) {
        for (long p = vectorPixels; p < inner; p++) {
            long at = (long)c * inner + p;
            out[at] = finish(blocked[p * block + c], scale, shift, residual, at, c, relu);
        }
    }
    const int firstScalar = vectorChannels;
#else
    const int firstScalar = 0;
#endif
    for (int c = firstScalar; c < channels; c++) {
        for (long p = 0; p < inner; p++) {
            long at = (long)c * inner + p;
            out[at] = finish(blocked[p * block + c], scale, shift, residual, at, c, relu);
        }
    }
}

void smia_block_channels_gradient(const float *g, const float *output, float *blocked, int block, int channels, long inner,
                                  const float *scale, bool mask) {
    int firstScalar = 0;
#if defined(__x86_64__)
    const long vectorPixels = inner / 4 * 4;
    const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1);
    for (int q = 0; q + 4 <= channels; q += 4) {
        __m128 s[4];
        for (int j = 0; j < 4; j++) s[j] = _mm_set1_ps(scale ? scale[q + j] : 1);
        for (long p = 0; p < vectorPixels; p += 4) {
            __m128 rows[4];
            for (int j = 0; j < 4; j++) {
                long at = (long)(q + j) * inner + p;
                __m128 y = _mm_loadu_ps(g + at);
                if (mask) y = _mm_mul_ps(y, _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(output + at), zero), one));
                if (scale) y = _mm_mul_ps(y, s[j]);
                rows[j] = y;
            }
            _MM_TRANSPOSE4_PS(rows[0], rows[1], rows[2], rows[3]);
            float *dst = blocked + p * block + q;
            _mm_storeu_ps(dst, rows[0]);
            _mm_storeu_ps(dst + block, rows[1]);
            _mm_storeu_ps(dst + 2 * block, rows[2]);
            _mm_storeu_ps(dst + 3 * block, rows[3]);
        }
    }
    firstScalar = channels / 4 * 4;
    for (int c = 0; c < firstScalar; c++) {
        for (long p = vectorPixels; p < inner; p++) {
            long at = (long)c * inner + p;
            blocked[p * block + c] = smia_fused_gradient(g[at], output[at], mask, scale ? scale + c : NULL);
        }
    }
#endif
    for (int c = firstScalar; c < block; c++) {
        for (long p = 0; p < inner; p++) {
            long at = (long)c * inner + p;
            blocked[p * block + c] = c < channels ? smia_fused_gradient(g[at], output[at], mask, scale ? scale + c : NULL) : 0;
        }
    }
}
