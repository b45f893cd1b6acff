import Tensor

/// Detection as an attack task (`AttackTask.detection`).
///
/// - Model output: the detector's heads concatenated on the channel axis, (N, C + 4, h, w)
///   (`Detector.forward`, `DetectorHeads(concatenated:numClasses:)`), C = channels − 4 classes,
///   on a map `Detector.stride` times smaller than the input.
/// - Labels: the ground-truth boxes as one tensor (N, M, 5), a row `(x1, y1, x2, y2, class)` per
///   box in input pixels (see `Box`), M the largest box count of the batch (at least 1), rows
///   of class −1 padding the shorter lists (`DetectionLabels`). One tensor keeps the engine's
///   one label type, so every attack built on it (restarts, early stop, APGD's sample selection)
///   carries boxes without knowing them.
/// - Loss: CenterNet's training loss (`DetectionLoss`) of the heads against the true boxes,
///   ascended by an untargeted attack.
/// - A ground-truth box is *detected* when the default decoder (`DetectionDecoder()`: score
///   threshold 0.3, 100 peaks, NMS at 0.5) finds a box of the same class with IoU ≥ 0.5 with it.
///   Per image the agreement is the share of its ground-truth boxes detected (its recall; 0 for
///   an image without boxes), and an untargeted attack succeeds on an image when none of its
///   boxes is detected any more (agreement 0; an image without boxes counts as a success).
///   Targeted attacks are not defined for detection.
/// - SMIA's stabilization term: `DetectionTask.stabilization` (soft-target loss on the heads).
public enum DetectionTask {
    /// IoU at which a detection finds a ground-truth box (as mAP@0.5).
    public static let matchIoU: Float = 0.5

    /// Classes of a detector output (N, C + 4, h, w).
    static func classes(_ output: Tensor) -> Int { output.rank == 4 ? output.shape[1] - 4 : 0 }

    static func heads(_ output: Tensor) throws -> DetectorHeads {
        try DetectorHeads(concatenated: output, numClasses: max(classes(output), 1))
    }

    /// Checks a detector output and box labels.
    static func check(output: Tensor, labels: Tensor, op: String) throws {
        guard output.rank == 4, output.shape[1] >= 5, output.shape[2] > 0, output.shape[3] > 0 else {
            throw TensorError("\(op): a detector must output its heads concatenated, (N, classes + 4, h, w), got size \(describeShape(output.shape))")
        }
        let n = output.shape[0]
        guard labels.rank == 3, labels.shape[0] == n, labels.shape[2] == 5 else {
            throw TensorError("\(op): expected box labels of size \(n)xMx5 (x1, y1, x2, y2, class per box) for model output \(describeShape(output.shape)), got \(describeShape(labels.shape))")
        }
        let c = classes(output)
        let m = labels.shape[1]
        for i in 0..<n {
            for j in 0..<m {
                let row = (i * m + j) * 5
                let label = labels.storage[row + 4]
                if label == -1 { continue }
                guard label >= 0, label < Float(c), label == label.rounded() else {
                    throw TensorError("\(op): box \(j + 1) of image \(i + 1) has class \(label), expected a class index in 0..\(c - 1) for a detector with \(c) classes")
                }
                guard (0..<4).allSatisfy({ labels.storage[row + $0].isFinite }) else {
                    throw TensorError("\(op): box \(j + 1) of image \(i + 1) has a coordinate that is not finite")
                }
            }
        }
    }

    /// The detection loss of `output` against the box labels.
    static func loss(_ output: Tensor, _ labels: Tensor) throws -> Tensor {
        let heads = try self.heads(output)
        let shape = output.shape
        return try DetectionLoss(heads, boxes: DetectionLabels.boxes(labels),
                                 imageSize: (shape[2] * Detector.stride, shape[3] * Detector.stride)).total
    }

    /// The detection loss of each image alone, (N).
    static func lossPerSample(_ output: Tensor, _ labels: Tensor) throws -> Tensor {
        let n = output.shape[0]
        let losses = try (0..<n).map { i in
            try loss(output.slice(dim: 0, start: i, end: i + 1), labels.slice(dim: 0, start: i, end: i + 1)).reshaped([1])
        }
        return try Tensor.cat(losses, dim: 0)
    }

    /// Per image, the share of its ground-truth boxes that the default decoder detects.
    static func agreement(_ output: Tensor, labels: Tensor) throws -> [Float] {
        try agreement(found: DetectionDecoder().decode(heads(output.detached())), truths: DetectionLabels.boxes(labels))
    }

    /// `agreement` from the default decoder's detections of each image.
    static func agreement(found: [[Detection]], truths: [[Box]]) throws -> [Float] {
        guard truths.count == found.count else {
            throw TensorError("agreement: \(truths.count) lists of boxes for \(found.count) images")
        }
        return zip(found, truths).map { detections, boxes in
            guard !boxes.isEmpty else { return 0 }
            let hits = boxes.filter { isDetected($0, by: detections) }.count
            return Float(hits) / Float(boxes.count)
        }
    }

    /// Whether one of `detections` has the box's class and IoU ≥ `matchIoU` with it.
    public static func isDetected(_ box: Box, by detections: [Detection]) -> Bool {
        detections.contains { $0.box.label == box.label && $0.box.iou(box) >= matchIoU }
    }

    /// SMIA's stabilization term L(f(x̃), f(x + W∗η)) for a detector: the adversarial heads
    /// `output` against the heads `target` of the smoothed image taken as a soft target,
    ///
    ///     Σ |σ(hm_adv) − P|² · BCE-with-logits(hm_adv, P) / n
    ///       + Σ w · (0.1 |wh_adv − wh_t| + |reg_adv − reg_t|) / (2 Σ w + 1e-4)
    ///
    /// - the heatmap term is the soft-target form of the deviation's focal loss (Quality Focal
    ///   Loss, Li et al. 2020, with β = 2): plain BCE against soft targets would not fade where
    ///   the two heads agree while the focal deviation fades on confident cells, and so would
    ///   outweigh it; with the modulating factor the two terms have the same form;
    /// - soft target (the default): P = sigmoid(hm_t), the target's heatmap probabilities, and
    ///   w = max over classes of P per cell: size and offset are held where the target sees an
    ///   object, in proportion to how sure it is (the soft form of CenterNet's centre mask);
    /// - `hard`: P = 1 at the target's peaks (a cell that is the maximum of its 3x3
    ///   neighbourhood with probability ≥ 0.3, the decoder's default threshold) and 0
    ///   elsewhere, the detections as labels, as argmax labels are for a classifier (the
    ///   heatmap term is then a focal loss against them); w likewise;
    /// - n is the number of the target's peaks (at least 1), so the heatmap term is per object
    ///   like the deviation's focal loss (which divides by the number of true objects); the
    ///   weights 0.1 and 1 and the mean over masked values are CenterNet's, as in `DetectionLoss`.
    /// The sums run over the batch. Gradients flow into both arguments (the target's through
    /// P, w and the regression targets), unless the caller detached the target; the peak set
    /// and n are constants. SMIA's options apply as for the other tasks: `detach_target` stops
    /// the gradient at x + W∗η, `smooth = "last_step"` smooths the last update instead of η.
    public static func stabilization(_ output: Tensor, target: Tensor, hard: Bool) throws -> Tensor {
        guard output.shape == target.shape else {
            throw TensorError("smia: the stabilization target has size \(describeShape(target.shape)), the output \(describeShape(output.shape))")
        }
        let adversarial = try heads(output), reference = try heads(target)
        let peaks = try withoutGrad { try peakMask(reference.heatmap) }
        let count = Float(max(peaks.storage.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }, 1))
        let probabilities = hard ? peaks : reference.heatmap.sigmoid()
        let bce = try Tensor.binaryCrossEntropyWithLogits(adversarial.heatmap, probabilities, reduction: .none)
        let gap = try adversarial.heatmap.sigmoid() - probabilities
        let heat = try (gap * gap * bce).sum() / count
        let weight = try probabilities.max(dim: 1, keepDim: true).values
        let size = try ((adversarial.size - reference.size).abs() * weight).sum()
        let offset = try ((adversarial.offset - reference.offset).abs() * weight).sum()
        let regression = try (size * DetectionLoss.sizeWeight + offset * DetectionLoss.offsetWeight) / (weight.sum() * 2 + 1e-4)
        return try heat + regression
    }

    /// 1 where a heatmap's probability is the maximum of its 3x3 neighbourhood and at least the
    /// decoder's default threshold (the cells `DetectionDecoder` would read), else 0.
    static func peakMask(_ logits: Tensor, threshold: Float = 0.3) throws -> Tensor {
        let p = logits.detached().sigmoid()
        let pooled = try Tensor.maxPool2d(p, Pool2dOptions(kernel: (3, 3), stride: (1, 1), padding: (1, 1)))
        return try Tensor(shape: p.shape, storage: zip(p.storage, pooled.storage).map { $0 == $1 && $0 >= threshold ? 1 : 0 })
    }
}

/// Box labels as one tensor for the engine: (N, M, 5), rows (x1, y1, x2, y2, class), padded
/// with rows of class −1 (coordinates 0) to M, the largest box count (at least 1).
public enum DetectionLabels {
    public static let padding: Float = -1

    public static func tensor(_ boxes: [[Box]]) throws -> Tensor {
        let m = max(boxes.map(\.count).max() ?? 0, 1)
        var storage = [Float](repeating: 0, count: boxes.count * m * 5)
        for (i, list) in boxes.enumerated() {
            for j in 0..<m {
                let row = (i * m + j) * 5
                guard j < list.count else {
                    storage[row + 4] = padding
                    continue
                }
                let b = list[j]
                storage.replaceSubrange(row..<(row + 5), with: [b.x1, b.y1, b.x2, b.y2, Float(b.label)])
            }
        }
        return try Tensor(shape: [boxes.count, m, 5], storage: storage)
    }

    /// The boxes of each image, padding rows dropped.
    public static func boxes(_ labels: Tensor) throws -> [[Box]] {
        guard labels.rank == 3, labels.shape[2] == 5 else {
            throw TensorError("detection labels: expected size NxMx5 (x1, y1, x2, y2, class per box), got \(describeShape(labels.shape))")
        }
        let (n, m) = (labels.shape[0], labels.shape[1])
        let s = labels.storage
        return (0..<n).map { i in
            (0..<m).compactMap { j -> Box? in
                let row = (i * m + j) * 5
                let label = s[row + 4]
                guard label >= 0, label < 1e9 else { return nil }
                return Box(x1: s[row], y1: s[row + 1], x2: s[row + 2], y2: s[row + 3], label: Int(label))
            }
        }
    }
}
