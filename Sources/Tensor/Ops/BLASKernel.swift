import CCPUFeatures
import COpenBLAS
import Foundation

/// Which OpenBLAS kernel runs the matrix products, and the better one to ask for when OpenBLAS
/// did not recognise the CPU.
///
/// OpenBLAS built with DYNAMIC_ARCH (as Debian ships it) picks its kernel from a table of CPU
/// models when the library loads; a model newer than its table gets a generic SSE kernel
/// (Prescott, Core2, Nehalem, ...) several times slower than the CPU could run. The decision
/// here rests on the CPU's features alone: each kernel needs an instruction set tier, and the
/// CPU's best tier comes from CPUID. `OPENBLAS_CORETYPE` takes effect only when the library
/// loads, so the host applies the choice by re-executing itself once (BLASCoreSelection).
public enum BLASKernel {
    /// Vector instruction set tiers, in increasing order of what OpenBLAS's kernels need.
    public enum Tier: Int, Comparable, Sendable {
        case sse = 0, avx, avx2, avx512

        public static func < (a: Tier, b: Tier) -> Bool { a.rawValue < b.rawValue }
    }

    /// The instruction set tier of each OpenBLAS x86-64 kernel (as `openblas_get_corename`
    /// names them, lower-cased). A name not listed is left alone.
    static let kernelTiers: [String: Tier] = [
        "katmai": .sse, "coppermine": .sse, "northwood": .sse, "prescott": .sse, "banias": .sse,
        "atom": .sse, "core2": .sse, "penryn": .sse, "dunnington": .sse, "nehalem": .sse,
        "athlon": .sse, "opteron": .sse, "opteron(sse3)": .sse, "barcelona": .sse, "nano": .sse,
        "bobcat": .sse,
        "sandybridge": .avx, "bulldozer": .avx, "piledriver": .avx, "steamroller": .avx, "excavator": .avx,
        "haswell": .avx2, "zen": .avx2,
        "skylakex": .avx512, "cooperlake": .avx512, "sapphirerapids": .avx512,
    ]

    /// The best tier the CPU and the operating system support.
    public static func tier(of features: smia_cpu_features) -> Tier {
        if features.avx512_skylake { return .avx512 }
        if features.avx2 && features.fma { return .avx2 }
        if features.avx { return .avx }
        return .sse
    }

    /// The kernel to ask OpenBLAS for, or nil to keep the one it chose: only when the chosen
    /// kernel is known and of a lower tier than the CPU supports.
    public static func better(than reported: String, features: smia_cpu_features) -> String? {
        guard let reportedTier = kernelTiers[reported.lowercased()] else { return nil }
        let best = tier(of: features)
        guard reportedTier < best else { return nil }
        switch best {
        case .avx512: return features.avx512_bf16 ? "Cooperlake" : "SkylakeX"
        case .avx2: return "Haswell"
        case .avx: return "Sandybridge"
        case .sse: return nil
        }
    }

    /// This machine's CPU features.
    public static let cpuFeatures: smia_cpu_features = smia_cpu_detect()

    /// The kernel OpenBLAS runs, as it names it (`Haswell`, `Zen`, `SkylakeX`, ...).
    public static var coreName: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// OpenBLAS's build description (version, DYNAMIC_ARCH, the kernel).
    public static var configuration: String {
        openblas_get_config().map { String(cString: $0) } ?? "unknown"
    }

    /// Whether `OPENBLAS_CORETYPE` can change the kernel: only a DYNAMIC_ARCH build reads it.
    public static var kernelSelectable: Bool { configuration.contains("DYNAMIC_ARCH") }

    /// The environment variable through which the host tells the re-executed process which
    /// kernel OpenBLAS had chosen on its own.
    public static let replacedKernelVariable = "SMIA_BLAS_REPLACED_CORE"

    /// Who chose the running kernel: "user" (OPENBLAS_CORETYPE set outside), "smia-lua"
    /// (the host replaced OpenBLAS's generic choice, which `replaced` names) or "OpenBLAS".
    public static var choice: (by: String, replaced: String?) {
        let env = ProcessInfo.processInfo.environment
        if let replaced = env[replacedKernelVariable], env["OPENBLAS_CORETYPE"] != nil {
            return ("smia-lua", replaced)
        }
        if env["OPENBLAS_CORETYPE"] != nil { return ("user", nil) }
        return ("OpenBLAS", nil)
    }

    /// The CPU's vector features, by name, for reports.
    public static var featureNames: [String] {
        let f = cpuFeatures
        return [("sse3", f.sse3), ("avx", f.avx), ("fma", f.fma), ("avx2", f.avx2),
                ("avx512", f.avx512_skylake), ("avx512_bf16", f.avx512_bf16)].filter { $0.1 }.map { $0.0 }
    }
}
