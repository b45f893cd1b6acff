// CPUID plumbing: which vector instruction sets the CPU and the OS support.
#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

smia_cpu_features smia_cpu_detect(void) {
    smia_cpu_features f = {0};
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
    f.sse3 = (ecx & bit_SSE3) != 0;
    bool osxsave = (ecx & bit_OSXSAVE) != 0;
    if (!osxsave) return f;
    unsigned long long xcr0 = xgetbv0();
    bool os_ymm = (xcr0 & 0x6) == 0x6;    // SSE and AVX state
    bool os_zmm = (xcr0 & 0xe6) == 0xe6;  // and the opmask and both halves of the ZMM state
    f.avx = os_ymm && (ecx & bit_AVX) != 0;
    f.fma = f.avx && (ecx & bit_FMA) != 0;
    unsigned int max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    unsigned int leaf7_subleaves = eax;
    f.avx2 = f.avx && (ebx & bit_AVX2) != 0;
    const unsigned int skylake_set = bit_AVX512F | bit_AVX512DQ | bit_AVX512CD | bit_AVX512BW | bit_AVX512VL;
    f.avx512_skylake = os_zmm && (ebx & skylake_set) == skylake_set;
    if (f.avx512_skylake && leaf7_subleaves >= 1) {
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avx512_bf16 = (eax & (1u << 5)) != 0;
    }
    return f;
}
#else
smia_cpu_features smia_cpu_detect(void) {
    smia_cpu_features f = {0};
    return f;
}
#endif
