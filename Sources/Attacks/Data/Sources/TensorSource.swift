import Tensor

/// Samples held in memory: images (N, C, H, W) and labels (N), masks (N, H, W) or boxes per
/// image, as the generated benchmarks, Fashion-MNIST and `.npz` files give them.
public struct TensorSource: DatasetSource {
    public let images: Tensor
    public let labels: Tensor?
    public let boxes: [[Box]]
    /// Names samples in messages: "\(origin)[i]" (1-based, as scripts count).
    public let origin: String

    public init(images: Tensor, labels: Tensor?, boxes: [[Box]] = [], origin: String) throws {
        guard images.rank == 4 else {
            throw TensorError("\(origin): expected images of size (N, C, H, W), got \(describeShape(images.shape))")
        }
        let n = images.shape[0]
        if let labels {
            guard labels.shape == [n] || labels.shape == [n, images.shape[2], images.shape[3]] else {
                throw TensorError("\(origin): expected labels of size (\(n)) or masks of size "
                    + "\(describeShape([n, images.shape[2], images.shape[3]])), got \(describeShape(labels.shape))")
            }
        } else {
            guard boxes.count == n else {
                throw TensorError("\(origin): expected boxes for \(n) images, got \(boxes.count)")
            }
        }
        self.images = images
        self.labels = labels
        self.boxes = boxes
        self.origin = origin
    }

    /// The samples of a generated benchmark.
    public init(_ data: BenchmarkData, origin: String) throws {
        try self.init(images: data.images, labels: data.labels, boxes: data.boxes, origin: origin)
    }

    public var count: Int { images.shape[0] }

    public func sample(_ index: Int) throws -> Sample {
        let (c, h, w) = (images.shape[1], images.shape[2], images.shape[3])
        let per = c * h * w
        let image = try Tensor(shape: [c, h, w], storage: Array(images.storage[index * per ..< (index + 1) * per]))
        let source = "\(origin)[\(index + 1)]"
        guard let labels else { return Sample(image: image, target: .boxes(boxes[index]), source: source) }
        if labels.rank == 1 {
            let v = labels.storage[index]
            guard v.isFinite, v == v.rounded(), Swift.abs(v) < 1e9 else {
                throw TensorError("\(source): label \(v) is not an integer class")
            }
            return Sample(image: image, target: .label(Int(v)), source: source)
        }
        let mask = try Tensor(shape: [h, w], storage: Array(labels.storage[index * h * w ..< (index + 1) * h * w]))
        return Sample(image: image, target: .mask(mask), source: source)
    }
}
