import Tensor

/// Turns detector heads into boxes, as CenterNet's `ctdet_decode`: heatmap probabilities,
/// peaks that are the maximum of their 3x3 neighbourhood, the `k` best peaks of each image
/// over all classes, boxes from the size and offset at each peak, then a score threshold and
/// per-class non-maximum suppression.
public struct DetectionDecoder {
    /// Peaks per image considered.
    public var k: Int
    /// Lowest score kept.
    public var threshold: Float
    /// IoU above which a lower-scoring box of the same class is dropped; nil: no suppression.
    public var nmsIoU: Float?
    public var stride: Int

    public init(k: Int = 100, threshold: Float = 0.3, nmsIoU: Float? = 0.5, stride: Int = Detector.stride) throws {
        guard k > 0 else { throw TensorError("decode: k must be positive, got \(k)") }
        guard threshold.isFinite else { throw TensorError("decode: threshold must be a number, got \(threshold)") }
        if let nmsIoU, !(nmsIoU >= 0 && nmsIoU <= 1) {
            throw TensorError("decode: nms IoU threshold must be in [0, 1], got \(nmsIoU)")
        }
        guard stride > 0 else { throw TensorError("decode: stride must be positive, got \(stride)") }
        self.k = k
        self.threshold = threshold
        self.nmsIoU = nmsIoU
        self.stride = stride
    }

    /// Per image, the detections in input pixels, best first.
    public func decode(_ heads: DetectorHeads) throws -> [[Detection]] {
        try decodePeaks(heads).map { $0.map(\.detection) }
    }

    /// `decode`, with each detection's heatmap position: class · h · w + y · w + x.
    func decodePeaks(_ heads: DetectorHeads) throws -> [[(detection: Detection, peak: Int)]] {
        let (probabilities, peaks) = try withoutGrad {
            let p = heads.heatmap.sigmoid()
            return (p, try Tensor.maxPool2d(p, Pool2dOptions(kernel: (3, 3), stride: (1, 1), padding: (1, 1))))
        }
        let shape = heads.heatmap.shape
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let plane = h * w, s = Float(stride)
        let size = heads.size.storage, offset = heads.offset.storage
        var result: [[(detection: Detection, peak: Int)]] = []
        for i in 0..<n {
            var candidates: [(score: Float, index: Int)] = []
            for j in 0..<(c * plane) {
                let at = i * c * plane + j
                let v = probabilities.storage[at]
                if v == peaks.storage[at] && v >= threshold { candidates.append((v, j)) }
            }
            candidates.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
            var boxes: [Box] = [], scores: [Float] = [], cells: [Int] = []
            for (score, j) in candidates.prefix(k) {
                cells.append(j)
                let cls = j / plane, at = j % plane, y = at / w, x = at % w
                let bw = size[(i * 2) * plane + at] * s, bh = size[(i * 2 + 1) * plane + at] * s
                let cx = (Float(x) + offset[(i * 2) * plane + at]) * s
                let cy = (Float(y) + offset[(i * 2 + 1) * plane + at]) * s
                boxes.append(Box(x1: cx - bw / 2, y1: cy - bh / 2, x2: cx + bw / 2, y2: cy + bh / 2, label: cls))
                scores.append(score)
            }
            let kept = nmsIoU.map { nonMaximumSuppression(boxes, scores: scores, iouThreshold: $0) } ?? Array(boxes.indices)
            result.append(kept.map { (Detection(box: boxes[$0], score: scores[$0]), cells[$0]) })
        }
        return result
    }
}
