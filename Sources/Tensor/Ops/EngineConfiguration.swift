/// What the engine runs on, for `smia-lua -v` and `smia.config()`: the BLAS kernel and who
/// chose it, the threads, and the CPU's vector features.
public enum EngineConfiguration {
    /// One line: `OpenBLAS 0.3.21, kernel Haswell (chosen by smia-lua over Prescott); oneDNN 2.6.3 (avx2);
    /// 2 threads; CPU: avx2 fma`.
    public static var summary: String {
        let choice = BLASKernel.choice
        var chosen = "chosen by \(choice.by)"
        if let replaced = choice.replaced { chosen += " over \(replaced)" }
        let oneDNN = OneDNN.enabled ? "oneDNN \(OneDNN.version) (\(OneDNN.instructionSet))" : "oneDNN off"
        return "\(blasLibrary), kernel \(BLASKernel.coreName) (\(chosen)); \(oneDNN); \(threadCount) thread\(threadCount == 1 ? "" : "s"); CPU: \(BLASKernel.featureNames.joined(separator: " "))"
    }

    /// The BLAS library and version, from OpenBLAS's build description.
    public static var blasLibrary: String {
        let words = BLASKernel.configuration.split(separator: " ")
        return words.prefix(2).joined(separator: " ")
    }
}
