import Tensor

/// The three generated medical benchmarks share this surface: a name to list them by, what they
/// stand for, the task, and `generate(count:size:seed:)`, which is deterministic: sample i depends
/// only on (seed, i), so a smaller set is exactly a prefix of a larger one from the same seed, on
/// every machine.

/// What a benchmark's targets are.
public enum BenchmarkTask: String, CaseIterable, Sendable {
    /// One class per image: `labels` (N).
    case classification
    /// One class per pixel: `labels` (N, H, W).
    case segmentation
    /// Boxes per image: `boxes`.
    case detection
}

/// An axis-aligned box in pixel coordinates: (x1, y1) the top-left corner, (x2, y2) the
/// bottom-right corner, both on pixel edges (a box covering pixel columns 3...5 has x1 = 3,
/// x2 = 6), and the class of what it surrounds.
public struct Box: Equatable, Sendable, CustomStringConvertible {
    public var x1: Float, y1: Float, x2: Float, y2: Float
    public var label: Int

    public init(x1: Float, y1: Float, x2: Float, y2: Float, label: Int) {
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
        self.label = label
    }

    public var width: Float { x2 - x1 }
    public var height: Float { y2 - y1 }
    public var area: Float { max(0, width) * max(0, height) }

    /// Intersection over union with another box (0 when either is empty).
    public func iou(_ other: Box) -> Float {
        let w = min(x2, other.x2) - max(x1, other.x1), h = min(y2, other.y2) - max(y1, other.y1)
        guard w > 0, h > 0 else { return 0 }
        let inter = w * h
        let union = area + other.area - inter
        return union > 0 ? inter / union : 0
    }

    public var description: String { "Box(\(x1), \(y1), \(x2), \(y2), label: \(label))" }
}

/// A generated set: images (N, C, H, W) in [0, 1] and the targets of the task.
public struct BenchmarkData {
    public let task: BenchmarkTask
    /// (N, C, H, W), values in [0, 1].
    public let images: Tensor
    /// Classification: class per image, (N). Segmentation: class per pixel, (N, H, W).
    /// Detection: nil (see `boxes`). Class indices are stored as Float, 0-based.
    public let labels: Tensor?
    /// Detection: the boxes of each image. Empty for the other tasks.
    public let boxes: [[Box]]

    public var count: Int { images.shape[0] }
}

/// The standard splits, each generated from its own fixed seed so that held-out sets never share
/// a sample with training: train = 0x747261696E ("train" in ASCII), val = 0x76616C ("val"),
/// test = 0x74657374 ("test"). Any other seed gives yet another set.
public enum BenchmarkSplit: String, CaseIterable, Sendable {
    case train, val, test

    public var seed: UInt64 {
        switch self {
        case .train: return 0x74_7261_696E
        case .val: return 0x76_616C
        case .test: return 0x7465_7374
        }
    }

    /// "train", "val" (or "validation"), "test".
    public init(name: String) throws {
        switch name.lowercased() {
        case "train": self = .train
        case "val", "validation", "valid": self = .val
        case "test": self = .test
        default: throw TensorError("split: expected 'train', 'val' or 'test', got '\(name)'")
        }
    }
}

public protocol Benchmark {
    /// The name to list it by: "fundus", "ct_lung", "endoscopy".
    var name: String { get }
    /// What it stands in for and how its targets are laid out.
    var description: String { get }
    var task: BenchmarkTask { get }
    /// Image channels: 3 (RGB) or 1 (gray).
    var channels: Int { get }
    /// Class names by 0-based label.
    var classNames: [String] { get }
    /// The image side used when none is given.
    var defaultSize: Int { get }
    /// Samples `first ..< first + count` (square images of side `size`, 16...1024); sample i
    /// depends only on (seed, i), so any range is produced alone, as a dataset reads a batch.
    func generate(first: Int, count: Int, size: Int, seed: UInt64) throws -> BenchmarkData
}

extension Benchmark {
    /// The first `count` samples.
    public func generate(count: Int, size: Int, seed: UInt64) throws -> BenchmarkData {
        try generate(first: 0, count: count, size: size, seed: seed)
    }

    public func generate(count: Int, seed: UInt64) throws -> BenchmarkData {
        try generate(count: count, size: defaultSize, seed: seed)
    }

    /// The first `count` samples of a standard split (see `BenchmarkSplit` for the seeds).
    public func split(_ name: String, count: Int, size: Int? = nil) throws -> BenchmarkData {
        try generate(count: count, size: size ?? defaultSize, seed: BenchmarkSplit(name: name).seed)
    }

    public func split(_ split: BenchmarkSplit, count: Int, size: Int? = nil) throws -> BenchmarkData {
        try generate(count: count, size: size ?? defaultSize, seed: split.seed)
    }
}

/// The registry of generated benchmarks.
public enum Benchmarks {
    public static let all: [any Benchmark] = [FundusBenchmark(), CTLungBenchmark(), EndoscopyBenchmark()]

    public static var names: [String] { all.map(\.name) }

    public static func named(_ name: String) throws -> any Benchmark {
        guard let b = all.first(where: { $0.name == name }) else {
            throw TensorError("benchmark: unknown benchmark '\(name)' (expected one of \(names.map { "'\($0)'" }.joined(separator: ", ")))")
        }
        return b
    }
}

// MARK: - The generation driver

/// What one generated sample gives back besides its pixels.
struct SampleTargets {
    var label: Int = 0
    /// Segmentation: class per pixel, H x W.
    var mask: [Float] = []
    var boxes: [Box] = []
}

/// Checks the arguments, then renders samples `first ..< first + count` (spread over the cores; each sample has its
/// own generator seeded from (seed, index), so the order of work does not matter) and assembles
/// the tensors.
func generateBenchmark(_ op: String, first: Int, task: BenchmarkTask, count: Int, size: Int, seed: UInt64, salt: UInt64, channels: Int,
                       render: (_ index: Int, _ rng: inout SeededRandom, _ pixels: UnsafeMutableBufferPointer<Float>) -> SampleTargets) throws -> BenchmarkData {
    guard count >= 0 else { throw TensorError("\(op): count must be >= 0, got \(count)") }
    guard first >= 0, first <= Int(Int32.max) else { throw TensorError("\(op): the first sample must be in 0...\(Int32.max), got \(first)") }
    guard (16...1024).contains(size) else { throw TensorError("\(op): size must be in 16...1024, got \(size)") }
    let perImage = channels * size * size
    let (total, overflow) = count.multipliedReportingOverflow(by: perImage)
    guard !overflow, total <= maxTensorElements else {
        throw TensorError("\(op): \(count) images of \(channels)x\(size)x\(size) are too many (at most \(maxTensorElements) values)")
    }
    var pixels = [Float](repeating: 0, count: total)
    var targets = [SampleTargets](repeating: SampleTargets(), count: count)
    pixels.withUnsafeMutableBufferPointer { pix in
        targets.withUnsafeMutableBufferPointer { tgt in
            func work(_ i: Int) {
                var rng = SeededRandom(seed: sampleSeed(seed, index: first + i, salt: salt))
                let slice = UnsafeMutableBufferPointer(rebasing: pix[(i * perImage)..<((i + 1) * perImage)])
                tgt[i] = render(first + i, &rng, slice)
            }
            parallelFor(count, work)
        }
    }
    let images = try Tensor(shape: [count, channels, size, size], storage: pixels)
    switch task {
    case .classification:
        return BenchmarkData(task: task, images: images, labels: try Tensor(shape: [count], storage: targets.map { Float($0.label) }), boxes: [])
    case .segmentation:
        var masks = [Float]()
        masks.reserveCapacity(count * size * size)
        for t in targets { masks += t.mask }
        return BenchmarkData(task: task, images: images, labels: try Tensor(shape: [count, size, size], storage: masks), boxes: [])
    case .detection:
        return BenchmarkData(task: task, images: images, labels: nil, boxes: targets.map(\.boxes))
    }
}

extension Raster {
    /// Copies the pixels, clamped into [0, 1], into a sample's slice.
    func write(to out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<min(out.count, pixels.count) { out[i] = clamp01(pixels[i]) }
    }
}
