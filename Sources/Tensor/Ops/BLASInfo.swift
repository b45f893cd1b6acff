import COpenBLAS

/// What the engine runs on, for a run's record: the threads kernels split work across, and
/// OpenBLAS's build and the CPU kernel it chose.
public enum BLASInfo {
    public static var threads: Int { coreCount }
    public static var config: String { String(cString: openblas_get_config()) }
    public static var core: String { String(cString: openblas_get_corename()) }
}
