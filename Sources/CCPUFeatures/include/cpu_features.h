#ifndef SMIA_CPU_FEATURES_H
#define SMIA_CPU_FEATURES_H

#include <stdbool.h>

/// The vector instruction sets this CPU has and the operating system saves the registers of
/// (an instruction set whose registers the OS does not save cannot be used).
typedef struct {
    bool sse3;
    bool avx;
    bool fma;
    bool avx2;
    /// AVX-512 Foundation, Conflict Detection, Byte/Word, Doubleword/Quadword and Vector
    /// Length: the set Skylake-SP introduced, which OpenBLAS's SkylakeX kernels use.
    bool avx512_skylake;
    /// AVX-512 BF16 (Cooper Lake and later).
    bool avx512_bf16;
} smia_cpu_features;

/// Reads the features with CPUID and XGETBV; all false on a CPU that is not x86-64.
smia_cpu_features smia_cpu_detect(void);

#endif
