import Foundation

/// What the engine runs on, for `smia-lua -v` and `smia.config()`: the BLAS kernel and who
/// chose it, the threads and how they wait, and the CPU's vector features.
public enum EngineConfiguration {
    /// One line: `OpenBLAS 0.3.21, kernel Haswell (chosen by smia-lua over Prescott); oneDNN 2.6.3 (avx2);
    /// 2 threads (between tasks: spin 1000 rounds, then sleep); CPU: avx2 fma`.
    public static var summary: String {
        let choice = BLASKernel.choice
        var chosen = "chosen by \(choice.by)"
        if let replaced = choice.replaced { chosen += " over \(replaced)" }
        let oneDNN = OneDNN.enabled ? "oneDNN \(OneDNN.version) (\(OneDNN.instructionSet))" : "oneDNN off"
        return "\(blasLibrary), kernel \(BLASKernel.coreName) (\(chosen)); \(oneDNN); \(threadCount) thread\(threadCount == 1 ? "" : "s") (between tasks: \(threadWait)); CPU: \(BLASKernel.featureNames.joined(separator: " "))"
    }

    /// The BLAS library and version, from OpenBLAS's build description.
    public static var blasLibrary: String {
        let words = BLASKernel.configuration.split(separator: " ")
        return words.prefix(2).joined(separator: " ")
    }

    /// How the threads wait between parallel regions, from OpenMP's variables (the host's
    /// default, OpenMPWaitPolicy.swift: `spin 1000 rounds, then sleep`): `sleep at once`,
    /// `spin N rounds, then sleep`, or `spin` (OMP_WAIT_POLICY=active).
    public static var threadWait: String {
        let environment = ProcessInfo.processInfo.environment
        let policy = environment["OMP_WAIT_POLICY"]?.lowercased()
        if let rounds = environment["GOMP_SPINCOUNT"] {
            return rounds == "0" ? "sleep at once" : "spin \(rounds) rounds, then sleep"
        }
        switch policy {
        case "passive": return "sleep at once"
        case "active": return "spin"
        default: return "spin 300000 rounds, then sleep"  // libgomp's own default
        }
    }
}
