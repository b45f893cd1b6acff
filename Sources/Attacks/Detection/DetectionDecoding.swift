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
        let probabilities = withoutGrad { heads.heatmap.sigmoid() }.storage
        let shape = heads.heatmap.shape
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let plane = h * w, s = Float(stride)
        let size = heads.size.storage, offset = heads.offset.storage
        // A peak: at least the threshold and the maximum of its 3x3 neighbourhood (no neighbour
        // larger or NaN), as a 3x3 max pooling that it equals. Few cells pass the threshold, so
        // only theirs are compared.
        func isPeak(_ at: Int, _ y: Int, _ x: Int, _ v: Float) -> Bool {
            for dy in Swift.max(y - 1, 0)...Swift.min(y + 1, h - 1) {
                for dx in Swift.max(x - 1, 0)...Swift.min(x + 1, w - 1) {
                    let q = probabilities[at + (dy - y) * w + dx - x]
                    if q > v || q.isNaN { return false }
                }
            }
            return true
        }
        var result: [[(detection: Detection, peak: Int)]] = []
        for i in 0..<n {
            var candidates: [(score: Float, index: Int)] = []
            for j in 0..<(c * plane) {
                let at = i * c * plane + j
                let v = probabilities[at]
                if v >= threshold, isPeak(at, (j % plane) / w, j % w, v) { candidates.append((v, j)) }
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
