import Tensor

/// Class indices are below this: labels travel as float32, exact up to 2^24.
public let classIndexLimit = 1 << 24

/// What one sample's target is: a class, a class per pixel, or boxes.
public enum SampleTarget {
    case label(Int)
    /// H×W class values.
    case mask(Tensor)
    case boxes([Box])
}

/// One sample: a C×H×W image in [0, 1], its target, and where it came from (for messages).
public struct Sample {
    public let image: Tensor
    public let target: SampleTarget
    public let source: String

    public init(image: Tensor, target: SampleTarget, source: String) {
        self.image = image
        self.target = target
        self.source = source
    }
}

/// Samples stacked for a model: images (N, C, H, W); labels (N) for classification or
/// masks (N, H, W) for segmentation; boxes per image for detection.
public struct Batch {
    public let images: Tensor
    public let labels: Tensor?
    public let boxes: [[Box]]
    /// 0-based sample indices, in batch order.
    public let indices: [Int]
}

/// Where a dataset's samples come from: a tensor in memory, files read on demand, or a
/// generated benchmark rendered on demand.
public protocol DatasetSource {
    var count: Int { get }
    /// Sample `index` (0-based, in range): checked, or a thrown error naming the file.
    func sample(_ index: Int) throws -> Sample
    /// The file sample `index` (0-based, in range) is read from, if it has one.
    func file(_ index: Int) -> String?
    /// The samples at `indices` (0-based, in range), in order: a source that makes a batch
    /// faster than one sample at a time (a generated benchmark) gives it here.
    func samples(_ indices: [Int]) throws -> [Sample]
}

/// `indices` cut into runs of consecutive values (positions in `indices`): a source reads each
/// run in one go.
func consecutiveRuns(_ indices: [Int]) -> [Range<Int>] {
    var runs: [Range<Int>] = []
    var start = 0
    while start < indices.count {
        var end = start + 1
        while end < indices.count, indices[end] == indices[end - 1] + 1 { end += 1 }
        runs.append(start ..< end)
        start = end
    }
    return runs
}

extension DatasetSource {
    public func file(_ index: Int) -> String? { nil }
    public func samples(_ indices: [Int]) throws -> [Sample] { try indices.map(sample) }
}

/// A dataset: its task, class names and channel count, and samples by 0-based index.
/// Every sample is checked on the way out (image shape, target shape and class range), so a
/// bad file is reported where it is read, by name.
public final class Dataset {
    public let name: String
    public let task: BenchmarkTask
    public let classNames: [String]
    public let channels: Int
    let source: any DatasetSource

    public init(name: String, task: BenchmarkTask, classNames: [String], channels: Int, source: any DatasetSource) {
        self.name = name
        self.task = task
        self.classNames = classNames
        self.channels = channels
        self.source = source
    }

    public var count: Int { source.count }

    /// The image file of sample `index` (0-based), for datasets read from files; nil otherwise.
    public func file(_ index: Int) -> String? {
        index >= 0 && index < count ? source.file(index) : nil
    }

    /// Sample `index`, 0-based.
    public func sample(_ index: Int) throws -> Sample {
        try samples([index])[0]
    }

    /// The samples at `indices` (0-based), each checked.
    public func samples(_ indices: [Int]) throws -> [Sample] {
        for index in indices where index < 0 || index >= count {
            throw TensorError("\(name): sample index \(index) out of range (the dataset holds \(count) samples)")
        }
        do {
            let list = try source.samples(indices)
            for s in list { try check(s) }
            return list
        } catch let error as TensorError where !error.message.hasPrefix("\(name): ") {
            throw TensorError("\(name): \(error.message)")
        }
    }

    private func check(_ s: Sample) throws {
        let shape = s.image.shape
        guard shape.count == 3, shape[0] == channels else {
            throw TensorError("\(name): '\(s.source)': expected an image of \(channels) channel\(channels == 1 ? "" : "s") "
                + "(C×H×W), got size \(describeShape(shape))")
        }
        let k = classNames.count
        switch s.target {
        case .label(let label):
            guard label >= 0, label < k else {
                throw TensorError("\(name): '\(s.source)': label \(label) out of range (expected 0...\(k - 1) for \(k) classes)")
            }
        case .mask(let mask):
            guard mask.shape == [shape[1], shape[2]] else {
                throw TensorError("\(name): '\(s.source)': mask of size \(describeShape(mask.shape)) does not match "
                    + "its image of size \(describeShape([shape[1], shape[2]]))")
            }
            if let bad = mask.storage.firstIndex(where: { !($0 >= 0 && $0 < Float(k) && $0 == $0.rounded()) }) {
                throw TensorError("\(name): '\(s.source)': mask value \(mask.storage[bad]) at row \(bad / shape[2]), "
                    + "column \(bad % shape[2]) is not a class (expected integers 0...\(k - 1) for \(k) classes)")
            }
        case .boxes(let boxes):
            for b in boxes {
                guard b.label >= 0, b.label < k else {
                    throw TensorError("\(name): '\(s.source)': box class \(b.label) out of range (expected 0...\(k - 1) for \(k) classes)")
                }
                guard b.x1 >= 0, b.y1 >= 0, b.x1 < b.x2, b.y1 < b.y2, b.x2 <= Float(shape[2]), b.y2 <= Float(shape[1]) else {
                    throw TensorError("\(name): '\(s.source)': box (\(b.x1), \(b.y1), \(b.x2), \(b.y2)) is not inside the "
                        + "\(shape[2])x\(shape[1]) image (expected 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height)")
                }
            }
        }
    }

    /// The samples at `indices` (0-based) stacked. Images of different sizes cannot be
    /// stacked: the error names the first two that differ.
    public func batch(_ indices: [Int]) throws -> Batch {
        guard !indices.isEmpty else { throw TensorError("\(name): a batch needs at least one sample") }
        var first: Sample? = nil
        var pixels: [Float] = []
        var labels: [Float] = []
        var boxes: [[Box]] = []
        for s in try samples(indices) {
            if let f = first {
                guard s.image.shape == f.image.shape else {
                    throw TensorError("\(name): cannot batch images of different sizes: '\(f.source)' is "
                        + "\(describeShape(f.image.shape)), '\(s.source)' is \(describeShape(s.image.shape)) "
                        + "(resize the files to one size, or use a batch size of 1)")
                }
            } else {
                first = s
                pixels.reserveCapacity(indices.count * s.image.count)
            }
            pixels += s.image.storage
            switch s.target {
            case .label(let label): labels.append(Float(label))
            case .mask(let mask): labels += mask.storage
            case .boxes(let b): boxes.append(b)
            }
        }
        let shape = first?.image.shape ?? []
        let images = try Tensor(shape: [indices.count] + shape, storage: pixels)
        switch task {
        case .classification:
            return Batch(images: images, labels: try Tensor(shape: [indices.count], storage: labels), boxes: [], indices: indices)
        case .segmentation:
            return Batch(images: images, labels: try Tensor(shape: [indices.count] + shape.dropFirst(), storage: labels),
                         boxes: [], indices: indices)
        case .detection:
            return Batch(images: images, labels: nil, boxes: boxes, indices: indices)
        }
    }

    /// The order of one pass over the data: 0..<count, shuffled by `seed` when given
    /// (Fisher-Yates with `SeededRandom`, the same order on every machine).
    public func order(shuffleSeed seed: UInt64?) -> [Int] {
        var order = Array(0 ..< count)
        guard let seed else { return order }
        var rng = SeededRandom(seed: seed)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, rng.below(i + 1))
        }
        return order
    }
}
