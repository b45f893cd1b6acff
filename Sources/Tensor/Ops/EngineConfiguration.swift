import Foundation

/// What the engine runs on, for `smia-lua -v` and `smia.config()`: the BLAS kernel and who
/// chose it, the threads and how they wait, and the CPU's vector features.
public enum EngineConfiguration {
    /// One line: `OpenBLAS 0.3.21, kernel Haswell (chosen by smia-lua over Prescott); oneDNN 2.6.3 (avx2);
    /// 2 threads (waiting passive); CPU: avx2 fma`.
    public static var summary: String {
        let choice = BLASKernel.choice
        var chosen = "chosen by \(choice.by)"
        if let replaced = choice.replaced { chosen += " over \(replaced)" }
        let oneDNN = OneDNN.enabled ? "oneDNN \(OneDNN.version) (\(OneDNN.instructionSet))" : "oneDNN off"
        return "\(blasLibrary), kernel \(BLASKernel.coreName) (\(chosen)); \(oneDNN); \(threadCount) thread\(threadCount == 1 ? "" : "s") (waiting \(threadWait)); CPU: \(BLASKernel.featureNames.joined(separator: " "))"
    }

    /// The BLAS library and version, from OpenBLAS's build description.
    public static var blasLibrary: String {
        let words = BLASKernel.configuration.split(separator: " ")
        return words.prefix(2).joined(separator: " ")
    }

    /// How the threads wait between parallel regions, from OpenMP's variables: `passive` (they
    /// sleep at once: the host's default, OpenMPWaitPolicy.swift), `active` (they spin), or
    /// `spin, then sleep` (OpenMP's own default, where nothing set the variable); with the spin's
    /// rounds when GOMP_SPINCOUNT sets them.
    public static var threadWait: String {
        let environment = ProcessInfo.processInfo.environment
        let policy = environment["OMP_WAIT_POLICY"]?.lowercased() ?? "spin, then sleep"
        guard let rounds = environment["GOMP_SPINCOUNT"] else { return policy }
        return "\(policy), spin count \(rounds)"
    }
}
