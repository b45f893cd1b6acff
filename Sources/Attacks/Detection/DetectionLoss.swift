import Tensor

/// CenterNet's training loss, differentiable with respect to the head outputs and so, through
/// the model, to the input image:
///
///     focal(heatmap) / positives + 0.1 · L1(size) + 1 · L1(offset)
///
/// with the L1 terms taken at object centres only and averaged over the masked values, as
/// CenterNet's `RegL1Loss`. The weights are CenterNet's defaults.
public struct DetectionLoss {
    public let total: Tensor
    public let heatmap: Tensor
    public let size: Tensor
    public let offset: Tensor

    public static let sizeWeight: Float = 0.1
    public static let offsetWeight: Float = 1

    public init(_ heads: DetectorHeads, _ targets: CenterNetTargets) throws {
        guard heads.heatmap.shape == targets.heatmap.shape else {
            throw TensorError("detection loss: heads of size \(describeShape(heads.heatmap.shape)) do not fit targets of size \(describeShape(targets.heatmap.shape))")
        }
        let positives = Float(max(Tensor.positiveCount(of: targets.heatmap), 1))
        heatmap = try Tensor.focalLoss(heads.heatmap, targets.heatmap, reduction: .sum) / positives
        // Two values (x and y) per object centre.
        let masked = Float(2 * targets.mask.storage.reduce(0, +)) + 1e-4
        size = try ((heads.size - targets.size) * targets.mask).abs().sum() / masked
        offset = try ((heads.offset - targets.offset) * targets.mask).abs().sum() / masked
        total = try heatmap + size * DetectionLoss.sizeWeight + offset * DetectionLoss.offsetWeight
    }

    /// The loss of `heads` for the boxes of each image of an input of `imageSize`.
    public init(_ heads: DetectorHeads, boxes: [[Box]], imageSize: (height: Int, width: Int),
                stride: Int = Detector.stride) throws {
        guard boxes.count == heads.heatmap.shape[0] else {
            throw TensorError("detection loss: \(boxes.count) lists of boxes for a batch of \(heads.heatmap.shape[0]) images")
        }
        let targets = try CenterNetTargets(boxes: boxes, numClasses: heads.numClasses, imageSize: imageSize, stride: stride)
        try self.init(heads, targets)
    }
}
