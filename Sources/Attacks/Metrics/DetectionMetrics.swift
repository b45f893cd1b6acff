import Tensor

/// A predicted box with its confidence.
public struct Detection: Equatable {
    public var box: Box
    public var score: Float

    public init(box: Box, score: Float) {
        self.box = box
        self.score = score
    }
}

/// Object detection: mean average precision at an IoU threshold, as PASCAL VOC computes it
/// (from 2010 on): per class, every detection of that class over all images in order of
/// decreasing score (ties in input order) is matched to the ground-truth box of its image and
/// class with the highest IoU; it is a true positive when that IoU is at least the threshold
/// and the box was not matched before, otherwise a false positive (so duplicates count as false
/// positives). AP is the area under the precision-recall curve with precision made monotone
/// (all-point interpolation). mAP is the mean over the classes that have ground truth; the
/// detections of other classes do not count. NaN when no class has ground truth.
public enum DetectionMetrics {
    public struct Result {
        public let map: Float
        /// AP per class with ground truth.
        public let perClass: [Int: Float]
    }

    public static func meanAveragePrecision(detections: [[Detection]], truths: [[Box]], iouThreshold: Float = 0.5) throws -> Result {
        guard detections.count == truths.count else {
            throw TensorError("map: predictions for \(detections.count) images, ground truth for \(truths.count)")
        }
        guard iouThreshold.isFinite, iouThreshold > 0, iouThreshold <= 1 else {
            throw TensorError("map: the IoU threshold must be in (0, 1], got \(iouThreshold)")
        }
        for (i, list) in detections.enumerated() {
            if let d = list.first(where: { !$0.score.isFinite }) {
                throw TensorError("map: image \(i + 1) has a detection with score \(d.score) (expected a finite number)")
            }
        }
        let classes = Set(truths.flatMap { $0.map(\.label) }).sorted()
        var perClass: [Int: Float] = [:]
        for c in classes {
            perClass[c] = averagePrecision(class: c, detections: detections, truths: truths, iouThreshold: iouThreshold)
        }
        let map = classes.isEmpty ? Float.nan : classes.compactMap { perClass[$0] }.reduce(0, +) / Float(classes.count)
        return Result(map: map, perClass: perClass)
    }

    /// The mean over all ground-truth boxes (of every image) of the best IoU with a detection
    /// of the same class in the same image, 0 for a box without one; NaN without ground truth.
    /// Scores do not count: every detection given is a prediction.
    public static func meanBestIoU(detections: [[Detection]], truths: [[Box]]) throws -> Float {
        guard detections.count == truths.count else {
            throw TensorError("box iou: predictions for \(detections.count) images, ground truth for \(truths.count)")
        }
        var total: Float = 0, count = 0
        for (found, boxes) in zip(detections, truths) {
            for box in boxes {
                total += found.filter { $0.box.label == box.label }.map { $0.box.iou(box) }.max() ?? 0
                count += 1
            }
        }
        return count == 0 ? .nan : total / Float(count)
    }

    static func averagePrecision(class c: Int, detections: [[Detection]], truths: [[Box]], iouThreshold: Float) -> Float {
        var ranked: [(image: Int, order: Int, detection: Detection)] = []
        for (i, list) in detections.enumerated() {
            for d in list where d.box.label == c { ranked.append((i, ranked.count, d)) }
        }
        ranked.sort { $0.detection.score != $1.detection.score ? $0.detection.score > $1.detection.score : $0.order < $1.order }
        let gt = truths.map { $0.filter { $0.label == c } }
        let total = gt.reduce(0) { $0 + $1.count }
        var matched = gt.map { [Bool](repeating: false, count: $0.count) }
        var tp = 0, fp = 0
        var recall: [Float] = [], precision: [Float] = []
        for r in ranked {
            var best = -1
            var bestIoU: Float = 0
            for (k, g) in gt[r.image].enumerated() {
                let v = r.detection.box.iou(g)
                if v > bestIoU {
                    bestIoU = v
                    best = k
                }
            }
            if best >= 0, bestIoU >= iouThreshold, !matched[r.image][best] {
                matched[r.image][best] = true
                tp += 1
            } else {
                fp += 1
            }
            recall.append(Float(tp) / Float(total))
            precision.append(Float(tp) / Float(tp + fp))
        }
        // All-point interpolation: the precision envelope integrated over recall.
        let mrec = [0] + recall + [1]
        var mpre = [0] + precision + [0]
        for i in stride(from: mpre.count - 2, through: 0, by: -1) { mpre[i] = max(mpre[i], mpre[i + 1]) }
        var ap: Float = 0
        for i in 0 ..< mrec.count - 1 where mrec[i + 1] != mrec[i] { ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1] }
        return ap
    }
}
