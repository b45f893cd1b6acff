import Tensor

/// Samples of a generated benchmark, produced when asked for: sample i depends only on
/// (seed, i) (`Benchmark.generate(first:count:size:seed:)`), so nothing is held between
/// batches and a set of any length takes the memory of one batch. A batch of consecutive
/// samples is rendered in one call, spread over the cores.
public struct GeneratedSource: DatasetSource {
    public let benchmark: any Benchmark
    public let count: Int
    public let size: Int
    public let seed: UInt64
    /// Names samples in messages: "\(origin)[i]" (1-based, as scripts count).
    public let origin: String

    /// Checks the arguments by producing the first sample (or none, for an empty set).
    public init(benchmark: any Benchmark, count: Int, size: Int, seed: UInt64, origin: String) throws {
        self.benchmark = benchmark
        self.count = count
        self.size = size
        self.seed = seed
        self.origin = origin
        guard count >= 0 else { throw TensorError("\(benchmark.name): count must be >= 0, got \(count)") }
        _ = try benchmark.generate(first: 0, count: min(count, 1), size: size, seed: seed)
    }

    public func sample(_ index: Int) throws -> Sample {
        try samples([index])[0]
    }

    public func samples(_ indices: [Int]) throws -> [Sample] {
        // Consecutive indices are rendered in one call (spread over the cores inside it); a
        // shuffled batch renders its samples side by side.
        let runs = consecutiveRuns(indices)
        var rendered = [Result<BenchmarkData, Error>?](repeating: nil, count: runs.count)
        rendered.withUnsafeMutableBufferPointer { slots in
            func render(_ r: Int) {
                slots[r] = Result { try benchmark.generate(first: indices[runs[r].lowerBound], count: runs[r].count, size: size, seed: seed) }
            }
            parallelFor(runs.count, render)
        }
        var out: [Sample] = []
        out.reserveCapacity(indices.count)
        for (r, run) in runs.enumerated() {
            guard let result = rendered[r] else { continue }
            let source = try TensorSource(try result.get(), origin: origin)
            for k in 0 ..< run.count {
                let s = try source.sample(k)
                out.append(Sample(image: s.image, target: s.target, source: "\(origin)[\(indices[run.lowerBound + k] + 1)]"))
            }
        }
        return out
    }
}
