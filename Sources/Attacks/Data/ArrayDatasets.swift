import Foundation
import Tensor

/// Datasets of arrays: the generated benchmarks (rendered per batch), Fashion-MNIST from its IDX
/// files, and arrays from an `.npz` file (MedMNIST's layout).
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

    /// Images and labels from an `.npz` file. Images (N, H, W) or (N, H, W, C) with C = 1 or 3,
    /// as MedMNIST stores them, become (N, C, H, W) divided by `scale` (255 for MedMNIST's uint8);
    /// (N, C, H, W) is taken as it is when C is 1 or 3 and the last dimension is not. Labels (N) or
    /// (N, 1) make a classification set, (N, H, W) a segmentation set. The classes are
    /// `classNames`, or 0...max label.
    public static func npz(path: String, imagesKey: String, labelsKey: String, scale: Float, count: Int?,
                           classNames: [String]?) throws -> Dataset {
        let op = "npz"
        let arrays = try NPZ.read(path: path)
        func array(_ key: String) throws -> Tensor {
            guard let t = arrays.first(where: { $0.name == key })?.tensor else {
                throw TensorError("\(op): '\(path)' has no array '\(key)' (it holds \(arrays.map { "'\($0.name)'" }.joined(separator: ", ")))")
            }
            return t
        }
        let rawImages = try array(imagesKey)
        let rawLabels = try array(labelsKey)
        guard scale.isFinite, scale > 0 else { throw TensorError("\(op): scale must be a positive number, got \(scale)") }
        var images = try channelsFirst(rawImages, what: "'\(path)' array '\(imagesKey)'")
        let n = images.shape[0], h = images.shape[2], w = images.shape[3]
        var labels = rawLabels
        if labels.shape == [n, 1] { labels = try Tensor(shape: [n], storage: labels.storage) }
        guard labels.shape == [n] || labels.shape == [n, h, w] else {
            throw TensorError("\(op): '\(path)' array '\(labelsKey)' is \(describeShape(rawLabels.shape)); expected (\(n)) "
                + "or (\(n), 1) class labels, or (\(n), \(h), \(w)) masks, for the \(n) images of '\(imagesKey)' "
                + "(multi-label sets are not supported)")
        }
        let take = min(count ?? n, n)
        let plane = images.count / max(n, 1)
        let pixels = images.storage[0 ..< take * plane].map { $0 / scale }
        if let bad = pixels.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) {
            throw TensorError("\(op): '\(path)' array '\(imagesKey)': value \(pixels[bad] * scale) at position \(bad + 1) is "
                + "outside [0, \(scale)] (images are divided by scale = \(scale) into [0, 1]; give the right scale)")
        }
        images = try Tensor(shape: [take] + images.shape.dropFirst(), storage: pixels)
        let perLabel = labels.count / max(n, 1)
        let y = try Tensor(shape: [take] + labels.shape.dropFirst(), storage: Array(labels.storage[0 ..< take * perLabel]))
        if let bad = y.storage.firstIndex(where: { !($0 >= 0 && $0 == $0.rounded() && $0 < 1e6) }) {
            throw TensorError("\(op): '\(path)' array '\(labelsKey)': value \(y.storage[bad]) at position \(bad + 1) is not a class "
                + "(expected integers >= 0)")
        }
        let maxLabel = Int(y.storage.max() ?? 0)
        let classes = classNames ?? FileDatasets.numberedClasses(maxLabel + 1)
        if maxLabel >= classes.count {
            throw TensorError("\(op): '\(path)' array '\(labelsKey)': label \(maxLabel) out of range (expected 0...\(classes.count - 1) "
                + "for \(classes.count) classes)")
        }
        let source = try TensorSource(images: images, labels: y, origin: "npz '\(path)'")
        return Dataset(name: op, task: labels.rank == 1 ? .classification : .segmentation, classNames: classes,
                       channels: images.shape[1], source: source)
    }

    /// (N, H, W) → (N, 1, H, W); (N, H, W, C) with C in {1, 3} → (N, C, H, W); (N, C, H, W)
    /// with C in {1, 3} stays.
    private static func channelsFirst(_ t: Tensor, what: String) throws -> Tensor {
        let s = t.shape
        if s.count == 3 { return try Tensor(shape: [s[0], 1, s[1], s[2]], storage: t.storage) }
        if s.count == 4, s[3] == 1 || s[3] == 3 {
            let (n, h, w, c) = (s[0], s[1], s[2], s[3])
            var out = [Float](repeating: 0, count: t.count)
            for i in 0 ..< n {
                for y in 0 ..< h {
                    for x in 0 ..< w {
                        for k in 0 ..< c { out[((i * c + k) * h + y) * w + x] = t.storage[((i * h + y) * w + x) * c + k] }
                    }
                }
            }
            return try Tensor(shape: [n, c, h, w], storage: out)
        }
        if s.count == 4, s[1] == 1 || s[1] == 3 { return t }
        throw TensorError("npz: \(what) is \(describeShape(s)); expected images (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3")
    }
}
