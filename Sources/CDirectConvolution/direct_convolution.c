// The direct 3x3 convolution of direct_convolution.h. Compiled for AVX2 and FMA through
// function attributes (the rest of the build targets plain x86-64); only called after
// smia_conv3x3_available() said the CPU has them.
#include "direct_convolution.h"

#include <string.h>

// The strips below hold one accumulator per output channel of a block.
_Static_assert(SMIA_CONV3X3_BLOCK == 4, "the strips are written for blocks of 4 output channels");

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

bool smia_conv3x3_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    bool fma = (ecx & bit_FMA) != 0, avx = (ecx & bit_AVX) != 0, osxsave = (ecx & bit_OSXSAVE) != 0;
    if (!(fma && avx && osxsave)) return false;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0x6) != 0x6) return false;  // the OS saves the SSE and AVX state
    if (__get_cpuid_max(0, 0) < 7) return false;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    return (ebx & bit_AVX2) != 0;
}

void smia_conv3x3_pad(const float *x, float *padded, int h, int w) {
    int pw = w + 2;
    memset(padded, 0, sizeof(float) * (size_t)pw);
    for (int i = 0; i < h; i++) {
        float *row = padded + (size_t)(i + 1) * pw;
        row[0] = 0;
        memcpy(row + 1, x + (size_t)i * w, sizeof(float) * (size_t)w);
        row[w + 1] = 0;
    }
    memset(padded + (size_t)(h + 1) * pw, 0, sizeof(float) * (size_t)pw);
}

void smia_conv3x3_pack(const float *weight, float *packed, int o, int c) {
    int blocks = (o + SMIA_CONV3X3_BLOCK - 1) / SMIA_CONV3X3_BLOCK;
    for (int b = 0; b < blocks; b++)
        for (int ci = 0; ci < c; ci++)
            for (int t = 0; t < 9; t++)
                for (int q = 0; q < SMIA_CONV3X3_BLOCK; q++) {
                    int oi = b * SMIA_CONV3X3_BLOCK + q;
                    packed[(((size_t)b * c + ci) * 9 + t) * SMIA_CONV3X3_BLOCK + q] =
                        oi < o ? weight[((size_t)oi * c + ci) * 9 + t] : 0.0f;
                }
}

// One strip of 8 * V columns (V = 1 or 2) of one output row, for the block's 4 channels:
// 4 * V accumulators, each input vector loaded once per tap and used for the 4 channels.
#define STRIP(V)                                                                                  \
    static __attribute__((target("avx2,fma"))) void strip##V(                                     \
        const float *padded, const float *wb, const float *bias, float *y, int c, int h, int w,   \
        int outs, int i, int j) {                                                                 \
        int pw = w + 2;                                                                           \
        size_t plane = (size_t)(h + 2) * pw;                                                      \
        __m256 acc[4][V];                                                                         \
        for (int q = 0; q < 4; q++)                                                               \
            for (int v = 0; v < V; v++) acc[q][v] = _mm256_set1_ps(bias && q < outs ? bias[q] : 0.0f); \
        for (int ci = 0; ci < c; ci++) {                                                          \
            const float *base = padded + ci * plane + (size_t)i * pw + j;                         \
            const float *wc = wb + (size_t)ci * 9 * 4;                                            \
            for (int ky = 0; ky < 3; ky++)                                                        \
                for (int kx = 0; kx < 3; kx++) {                                                  \
                    const float *src = base + (size_t)ky * pw + kx;                               \
                    __m256 in[V];                                                                 \
                    for (int v = 0; v < V; v++) in[v] = _mm256_loadu_ps(src + 8 * v);             \
                    const float *wt = wc + (ky * 3 + kx) * 4;                                     \
                    for (int q = 0; q < 4; q++) {                                                 \
                        __m256 wq = _mm256_broadcast_ss(wt + q);                                  \
                        for (int v = 0; v < V; v++) acc[q][v] = _mm256_fmadd_ps(wq, in[v], acc[q][v]); \
                    }                                                                             \
                }                                                                                 \
        }                                                                                         \
        for (int q = 0; q < outs; q++)                                                            \
            for (int v = 0; v < V; v++) _mm256_storeu_ps(y + (size_t)q * h * w + (size_t)i * w + j + 8 * v, acc[q][v]); \
    }
STRIP(1)
STRIP(2)

void smia_conv3x3_block(const float *padded, const float *packed, const float *bias, float *y,
                        int c, int o, int h, int w, int block) {
    int first = block * SMIA_CONV3X3_BLOCK;
    int outs = o - first < SMIA_CONV3X3_BLOCK ? o - first : SMIA_CONV3X3_BLOCK;
    const float *wb = packed + (size_t)block * c * 9 * SMIA_CONV3X3_BLOCK;
    const float *bb = bias ? bias + first : NULL;
    float *yb = y + (size_t)first * h * w;
    for (int i = 0; i < h; i++) {
        int j = 0;
        for (; j + 16 <= w; j += 16) strip2(padded, wb, bb, yb, c, h, w, outs, i, j);
        for (; j + 8 <= w; j += 8) strip1(padded, wb, bb, yb, c, h, w, outs, i, j);
    }
}

#else

bool smia_conv3x3_available(void) { return false; }
void smia_conv3x3_pad(const float *x, float *padded, int h, int w) { (void)x; (void)padded; (void)h; (void)w; }
void smia_conv3x3_pack(const float *weight, float *packed, int o, int c) { (void)weight; (void)packed; (void)o; (void)c; }
void smia_conv3x3_block(const float *padded, const float *packed, const float *bias, float *y,
                        int c, int o, int h, int w, int block) {
    (void)padded; (void)packed; (void)bias; (void)y; (void)c; (void)o; (void)h; (void)w; (void)block;
}

#endif
