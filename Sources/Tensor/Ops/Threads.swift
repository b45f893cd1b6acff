import Foundation

/// How many threads the kernels split their work across: every core unless `SMIA_THREADS` or
/// the host's `--threads` says otherwise. OpenBLAS itself runs single-threaded inside each
/// piece (BLAS.swift), so this is also the number of threads the matrix products use.
public private(set) var threadCount = EngineThreads.fromEnvironment() ?? EngineThreads.cores

/// Runs `body(i)` for `0..<count` across `threadCount` threads, on OpenMP's team (OpenMPTeam.swift)
/// so that every parallel loop of the engine shares one pool of threads with oneDNN's kernels.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 || threadCount == 1 { for i in 0..<count { body(i) }; return }
    OpenMPTeam.run(count, body)
}

public enum EngineThreads {
    /// The cores this process may run on.
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// The environment variable that sets the thread count.
    public static let variable = "SMIA_THREADS"

    /// A thread count as written by a user: a positive integer, or nil.
    public static func parse(_ text: String) -> Int? {
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n > 0 else { return nil }
        return n
    }

    /// `SMIA_THREADS` when it holds a valid count (the host rejects an invalid one at start).
    static func fromEnvironment() -> Int? {
        ProcessInfo.processInfo.environment[variable].flatMap(parse)
    }

    /// Sets the thread count; call it before any kernel runs concurrently (at start-up).
    public static func set(_ n: Int) {
        threadCount = max(1, n)
    }
}
