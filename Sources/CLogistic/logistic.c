// The logistic function of logistic.h. Everything derives from e = exp(-|z|) in (0, 1] and
// log1p(e), so nothing overflows and 1 - p is never formed by a subtraction:
//   z >= 0:  p = 1 / (1 + e),  1 - p = e / (1 + e)
//   z <  0:  p = e / (1 + e),  1 - p = 1 / (1 + e)
//   softplus(z) = max(z, 0) + log1p(e),  softplus(-z) = max(-z, 0) + log1p(e).
// exp and log are Cephes's single-precision polynomials (also those of the SSE math libraries),
// in the 4-lane vector extension that every x86-64 CPU runs (SSE2): the same arithmetic, and so
// the same results, on every CPU. Compiled without fused multiply-adds for that reason.
#include "logistic.h"

#include <string.h>

#pragma STDC FP_CONTRACT OFF

typedef float lanes4 __attribute__((vector_size(16)));
typedef int ints4 __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) lanes4 load4(const float *p) { lanes4 v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void store4(float *p, lanes4 v) { memcpy(p, &v, sizeof v); }
static inline __attribute__((always_inline)) lanes4 select4(ints4 mask, lanes4 a, lanes4 b) {
    ints4 ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    ints4 r = (ia & mask) | (ib & ~mask);
    lanes4 out;
    memcpy(&out, &r, sizeof out);
    return out;
}

// exp(x) for x <= 0: x = n ln 2 + r with |r| <= ln 2 / 2, a degree-6 polynomial for exp(r), then
// 2^n put into the exponent bits. Below -87.3 (where 2^n would not be a normal float) it is 0.
static inline __attribute__((always_inline)) lanes4 exp_nonpositive(lanes4 x) {
    const lanes4 lowest = {-87.33654f, -87.33654f, -87.33654f, -87.33654f};
    ints4 underflow = x < lowest;
    x = select4(underflow, lowest, x);
    lanes4 t = x * 1.44269504088896341f - 0.5f;            // n = round(x / ln 2), x <= 0
    ints4 n = __builtin_convertvector(t, ints4);           // truncates toward zero
    lanes4 fn = __builtin_convertvector(n, lanes4);
    lanes4 r = x - fn * 0.693359375f - fn * -2.12194440e-4f;  // ln 2 in two parts: exact n ln 2
    lanes4 y = r * 1.9875691500e-4f + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    ints4 bits = (n + 127) << 23;
    lanes4 scale;
    memcpy(&scale, &bits, sizeof scale);
    const lanes4 zero = {0, 0, 0, 0};
    return select4(underflow, zero, y * scale);
}

// log(1 + e) for e in [0, 1]: u = 1 + e in [1, 2], halved above sqrt 2 so that f = m - 1 is small
// (both exact), Cephes's polynomial for log(1 + f), and the rounding of u corrected to first
// order: log1p(e) = log(u) + (e - (u - 1)) / u.
static inline __attribute__((always_inline)) lanes4 log1p_unit(lanes4 e) {
    lanes4 u = e + 1.0f;
    const lanes4 root2 = {1.41421356f, 1.41421356f, 1.41421356f, 1.41421356f};
    ints4 halve = u > root2;
    const lanes4 one = {1, 1, 1, 1}, zero = {0, 0, 0, 0};
    lanes4 k = select4(halve, one, zero);
    lanes4 m = select4(halve, u * 0.5f, u);
    lanes4 f = m - 1.0f;
    lanes4 z = f * f;
    lanes4 y = f * 7.0376836292e-2f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y = y + k * -2.12194440e-4f;
    y = y - z * 0.5f;
    lanes4 log_u = f + y + k * 0.693359375f;
    return log_u + (e - (u - 1.0f)) / u;
}

// The four outputs of 4 logits (out[0] p, out[1] q, out[2] log p, out[3] log q). A NaN logit
// gives NaN everywhere on its own: every step of exp and log1p propagates it.
static inline __attribute__((always_inline)) void logistic4(lanes4 z, lanes4 out[4]) {
    const lanes4 zero = {0, 0, 0, 0};
    ints4 negative = z < zero;
    lanes4 magnitude = select4(negative, -z, z);
    lanes4 e = exp_nonpositive(-magnitude);
    lanes4 tail = log1p_unit(e);
    lanes4 near = 1.0f / (1.0f + e), far = e / (1.0f + e);
    out[0] = select4(negative, far, near);
    out[1] = select4(negative, near, far);
    out[2] = -(select4(negative, -z, zero) + tail);
    out[3] = -(select4(negative, zero, z) + tail);
}

void smia_logistic(const float *z, float *p, float *q, float *log_p, float *log_q, long n) {
    float *outputs[4] = {p, q, log_p, log_q};
    lanes4 out[4];
    long i = 0;
    // 16 logits per round: the polynomials are chains of dependent steps, and four independent
    // chains keep the CPU busy while each waits.
    for (; i + 16 <= n; i += 16) {
        lanes4 block[4][4];
        logistic4(load4(z + i), block[0]);  // written out: a loop of them is not unrolled
        logistic4(load4(z + i + 4), block[1]);
        logistic4(load4(z + i + 8), block[2]);
        logistic4(load4(z + i + 12), block[3]);
        for (int k = 0; k < 4; k++)
            if (outputs[k])
                for (int b = 0; b < 4; b++) store4(outputs[k] + i + 4 * b, block[b][k]);
    }
    for (; i + 4 <= n; i += 4) {
        logistic4(load4(z + i), out);
        for (int k = 0; k < 4; k++)
            if (outputs[k]) store4(outputs[k] + i, out[k]);
    }
    if (i < n) {
        // The last 1-3 logits through the same lanes, the rest of them zeros.
        float in[4] = {0, 0, 0, 0}, values[4];
        memcpy(in, z + i, sizeof(float) * (size_t)(n - i));
        logistic4(load4(in), out);
        for (int k = 0; k < 4; k++) {
            if (!outputs[k]) continue;
            store4(values, out[k]);
            memcpy(outputs[k] + i, values, sizeof(float) * (size_t)(n - i));
        }
    }
}
