import CDNNL
import Synchronization

/// The engine's parallel loops run on OpenMP's threads, the ones oneDNN's convolutions run on:
/// one team of threads for all the work. With two pools (these loops on Dispatch's threads),
/// each handed the cores to the other between every convolution and the batch norm, ReLU or
/// addition after it: the waiting pool's threads went to sleep and the next call woke them,
/// hundreds of thread switches per pass of a small network.
enum OpenMPTeam {
    /// Runs `body(i)` for `0..<count` on up to `threadCount` threads (the caller's among them);
    /// each thread takes the next index as it gets free.
    static func run(_ count: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let job = Job(count: count, body: body)
            let context = Unmanaged.passUnretained(job).toOpaque()
            GOMP_parallel(runJob, context, UInt32(Swift.min(count, threadCount)), 0)
            withExtendedLifetime(job) {}
        }
    }

    private final class Job {
        let count: Int
        let body: (Int) -> Void
        let next = Atomic<Int>(0)
        init(count: Int, body: @escaping (Int) -> Void) {
            self.count = count
            self.body = body
        }
    }

    /// What each thread of the team runs: indices taken one at a time until none is left.
    private static let runJob: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
        guard let context else { return }
        let job = Unmanaged<Job>.fromOpaque(context).takeUnretainedValue()
        while true {
            let i = job.next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= job.count { return }
            job.body(i)
        }
    }
}
