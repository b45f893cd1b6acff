import Foundation
import Tensor

/// Datasets of arrays: the generated benchmarks (rendered per batch), Fashion-MNIST from its IDX
/// files (in memory), and arrays from an `.npz` file (MedMNIST's layout, read per batch).
public enum ArrayDatasets {
    /// The first `count` samples of a benchmark split, or of the set generated from `seed`,
    /// rendered batch by batch as they are read (`GeneratedSource`).
    public static func benchmark(_ name: String, split: String, count: Int, size: Int?, seed: UInt64? = nil) throws -> Dataset {
        let b = try Benchmarks.named(name)
        let s = try BenchmarkSplit(name: split)
        let label = seed.map { "\(name) (seed \($0))" } ?? "\(name) \(s.rawValue)"
        return Dataset(name: name, task: b.task, classNames: b.classNames, channels: b.channels,
                       source: try GeneratedSource(benchmark: b, count: count, size: size ?? b.defaultSize,
                                                   seed: seed ?? s.seed, origin: label))
    }

    /// Where Debian's `dataset-fashion-mnist` puts the files.
    public static let fashionMNISTRoot = "/usr/share/datasets/fashion-mnist"
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                             "Sneaker", "Bag", "Ankle boot"]

    /// Fashion-MNIST's "train" (60000) or "test" (10000) images as (N, 1, 28, 28) in [0, 1], the
    /// first `count` of them when given.
    public static func fashionMNIST(split: String, count: Int?, root: String?) throws -> Dataset {
        let op = "fashion_mnist"
        let prefix: String
        switch split {
        case "train": prefix = "train"
        case "test", "t10k": prefix = "t10k"
        default: throw TensorError("\(op): split must be 'train' or 'test', got '\(split)'")
        }
        let dir = root ?? fashionMNISTRoot
        let imagesPath = try findFile(dir, "\(prefix)-images-idx3-ubyte", op: op, isDefault: root == nil)
        let labelsPath = try findFile(dir, "\(prefix)-labels-idx1-ubyte", op: op, isDefault: root == nil)
        let images = try IDX.read(path: imagesPath)
        let labels = try IDX.read(path: labelsPath)
        guard images.rank == 3 else {
            throw TensorError("\(op): '\(imagesPath)': expected images of size (N, H, W), got \(describeShape(images.shape))")
        }
        guard labels.shape == [images.shape[0]] else {
            throw TensorError("\(op): '\(labelsPath)' holds labels of size \(describeShape(labels.shape)), expected "
                + "\(images.shape[0]) for the \(images.shape[0]) images of '\(imagesPath)'")
        }
        let n = min(count ?? images.shape[0], images.shape[0])
        let (h, w) = (images.shape[1], images.shape[2])
        let pixels = images.storage[0 ..< n * h * w].map { $0 / 255 }
        let y = Array(labels.storage[0 ..< n])
        if let bad = y.firstIndex(where: { !($0 >= 0 && $0 <= 9) }) {
            throw TensorError("\(op): '\(labelsPath)': label \(y[bad]) of image \(bad + 1) is not a class (expected 0...9)")
        }
        let source = try TensorSource(images: try Tensor(shape: [n, 1, h, w], storage: pixels),
                                      labels: try Tensor(shape: [n], storage: y), origin: "fashion_mnist \(split)")
        return Dataset(name: op, task: .classification, classNames: fashionMNISTClasses, channels: 1, source: source)
    }

    /// `dir/name.gz`, else `dir/name`; a missing file names the package that provides it.
    private static func findFile(_ dir: String, _ name: String, op: String, isDefault: Bool) throws -> String {
        for candidate in [FileDatasets.join(dir, name + ".gz"), FileDatasets.join(dir, name)] where FileDatasets.isFile(candidate) {
            return candidate
        }
        let hint = isDefault ? "install the Debian package dataset-fashion-mnist (make setup), or give root = a directory holding the files"
            : "expected the files of Fashion-MNIST there, gzipped or not"
        throw TensorError("\(op): cannot find '\(FileDatasets.join(dir, name + ".gz"))' (\(hint))")
    }

    /// (N, C, H, W, channels last) of images (N, H, W), (N, H, W, C) with C in {1, 3}, or
    /// (N, C, H, W) with C in {1, 3}.
    private static func layout(_ s: [Int], what: String) throws -> (Int, Int, Int, Int, Bool) {
        if s.count == 3 { return (s[0], 1, s[1], s[2], false) }
        if s.count == 4, s[3] == 1 || s[3] == 3 { return (s[0], s[3], s[1], s[2], true) }
        if s.count == 4, s[1] == 1 || s[1] == 3 { return (s[0], s[1], s[2], s[3], false) }
        throw TensorError("npz: \(what) is \(describeShape(s)); expected images (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3")
    }

    /// Images and labels from an `.npz` file, read a batch at a time (`NPZSource`). Images (N, H, W)
    /// or (N, H, W, C) with C = 1 or 3, as MedMNIST stores them, become (N, C, H, W) divided by
    /// `scale` (255 for MedMNIST's uint8); (N, C, H, W) is taken as it is when C is 1 or 3 and the
    /// last dimension is not. Labels (N) or (N, 1) make a classification set, (N, H, W) a
    /// segmentation set. The classes are `classNames`, or 0...max label. Every value of the first
    /// `count` samples is checked here, in one pass over the file that holds one block at a time.
    public static func npz(path: String, imagesKey: String, labelsKey: String, scale: Float, count: Int?,
                           classNames: [String]?) throws -> Dataset {
        let op = "npz"
        let images = try NPZRows(path: path, member: imagesKey)
        let labels = try NPZRows(path: path, member: labelsKey)
        guard scale.isFinite, scale > 0 else { throw TensorError("\(op): scale must be a positive number, got \(scale)") }
        let (n, c, h, w, channelsLast) = try layout(images.shape, what: "'\(path)' array '\(imagesKey)'")
        let l = labels.shape
        let isMask = l == [n, h, w]
        guard l == [n] || l == [n, 1] || isMask else {
            throw TensorError("\(op): '\(path)' array '\(labelsKey)' is \(describeShape(l)); expected (\(n)) "
                + "or (\(n), 1) class labels, or (\(n), \(h), \(w)) masks, for the \(n) images of '\(imagesKey)' "
                + "(multi-label sets are not supported)")
        }
        let take = min(count ?? n, n)
        // Rows of a few MiB at a time.
        let block = max(1, (1 << 22) / max(1, c * h * w * 4))
        try images.scan(count: take, block: block) { first, values in
            if let bad = values.firstIndex(where: { !($0 >= 0 && $0 <= scale) }) {
                throw TensorError("\(op): '\(path)' array '\(imagesKey)': value \(values[bad]) at position \(first * c * h * w + bad + 1) is "
                    + "outside [0, \(scale)] (images are divided by scale = \(scale) into [0, 1]; give the right scale)")
            }
        }
        var maxLabel: Float = 0
        try labels.scan(count: take, block: block) { first, values in
            if let bad = values.firstIndex(where: { !($0 >= 0 && $0 == $0.rounded() && $0 < 1e6) }) {
                throw TensorError("\(op): '\(path)' array '\(labelsKey)': value \(values[bad]) at position \(first * l.dropFirst().reduce(1, *) + bad + 1) is not a class "
                    + "(expected integers >= 0)")
            }
            maxLabel = max(maxLabel, values.max() ?? 0)
        }
        let classes = classNames ?? FileDatasets.numberedClasses(Int(maxLabel) + 1)
        if Int(maxLabel) >= classes.count {
            throw TensorError("\(op): '\(path)' array '\(labelsKey)': label \(Int(maxLabel)) out of range (expected 0...\(classes.count - 1) "
                + "for \(classes.count) classes)")
        }
        let source = NPZSource(images: images, labels: labels, channelsLast: channelsLast, channels: c, height: h, width: w,
                               scale: scale, count: take, origin: "npz '\(path)'")
        return Dataset(name: op, task: isMask ? .segmentation : .classification, classNames: classes, channels: c, source: source)
    }
}
