import Tensor

public struct EndoscopyBenchmark: Benchmark {
    public init() {}
    public var name: String { "endoscopy" }
    public var task: BenchmarkTask { .detection }
    public var channels: Int { 3 }
    public var defaultSize: Int { 64 }
    public var classNames: [String] { ["specularity", "saturation", "bubbles", "motion blur", "low contrast"] }
    public var description: String { "stub" }
    public func generate(count: Int, size: Int, seed: UInt64) throws -> BenchmarkData {
        try generateBenchmark("endoscopy", task: .detection, count: count, size: size, seed: seed, salt: 3, channels: 3) { _, _, _ in
            SampleTargets()
        }
    }
}
