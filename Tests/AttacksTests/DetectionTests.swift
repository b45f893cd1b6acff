import Attacks
import Foundation
import Tensor
import XCTest

/// CenterNet targets, the detection loss and decoding: encoding boxes into perfect head
/// outputs and decoding them gives the boxes back; NMS; the loss's gradient reaches the image.
final class DetectionTests: XCTestCase {
    /// Boxes on a 64x64 image, centres in distinct cells, well apart.
    let boxes: [[Box]] = [
        [Box(x1: 4, y1: 6, x2: 20, y2: 18, label: 0), Box(x1: 30, y1: 34, x2: 58, y2: 60, label: 2),
         Box(x1: 40, y1: 2, x2: 46, y2: 12, label: 0)],
        [],
        [Box(x1: 0, y1: 0, x2: 64, y2: 64, label: 1)],
    ]

    /// Heads that reproduce the targets exactly: heatmap logits whose sigmoid is the target.
    func perfectHeads(_ t: CenterNetTargets) throws -> DetectorHeads {
        let logits = t.heatmap.storage.map { v -> Float in
            let p = Double(min(max(v, 1e-6), 1 - 1e-6))
            return Float(log(p / (1 - p)))
        }
        return try DetectorHeads(heatmap: Tensor(shape: t.heatmap.shape, storage: logits), size: t.size, offset: t.offset)
    }

    func testTargets() throws {
        let t = try CenterNetTargets(boxes: boxes, numClasses: 3, imageSize: (64, 64))
        XCTAssertEqual(t.heatmap.shape, [3, 3, 16, 16])
        XCTAssertEqual(t.size.shape, [3, 2, 16, 16])
        XCTAssertEqual(t.mask.shape, [3, 1, 16, 16])
        XCTAssertEqual(t.objectCount, 4)
        XCTAssertEqual(Tensor.positiveCount(of: t.heatmap), 4)
        XCTAssertEqual(t.mask.storage.reduce(0, +), 4)
        // First box: centre (12, 12) pixels = (3, 3) cells, size 4 x 3 cells, offset 0.
        let at = 3 * 16 + 3
        XCTAssertEqual(t.heatmap.storage[at], 1)
        XCTAssertEqual(t.size.storage[at], 4)
        XCTAssertEqual(t.size.storage[256 + at], 3)
        XCTAssertEqual(t.offset.storage[at], 0)
        // Third box: centre (43, 7) pixels = (10.75, 1.75) cells.
        let third = 1 * 16 + 10
        XCTAssertEqual(t.heatmap.storage[third], 1)
        XCTAssertEqual(t.offset.storage[third], 0.75)
        XCTAssertEqual(t.offset.storage[256 + third], 0.75)
        // A 4x3-cell box gets CenterNet's radius 0 (a single cell); the 7x6.5-cell box radius 1,
        // a bump that falls off around its centre (11, 11) in class 2. Image 2 is empty.
        XCTAssertEqual(t.heatmap.storage[at + 1], 0)
        let second = 2 * 256 + 11 * 16 + 11
        XCTAssertEqual(t.heatmap.storage[second], 1)
        XCTAssertEqual(Double(t.heatmap.storage[second + 1]), exp(-1 / (2 * 0.5 * 0.5)), accuracy: 1e-6, "sigma 3/6")
        XCTAssertEqual(t.heatmap.storage[second + 2], 0)
        XCTAssertTrue(t.heatmap.storage.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(t.heatmap.storage[(3 * 256)..<(6 * 256)].reduce(0, +), 0)
        XCTAssertThrowsError(try CenterNetTargets(boxes: [[Box(x1: 0, y1: 0, x2: 8, y2: 8, label: 3)]], numClasses: 3, imageSize: (64, 64))) {
            XCTAssertTrue("\($0)".contains("class 3"), "\($0)")
        }
        XCTAssertThrowsError(try CenterNetTargets(boxes: [], numClasses: 3, imageSize: (62, 64)))
    }

    func testGaussianRadiusAsCenterNet() throws {
        // CenterNet's gaussian_radius((10, 10), 0.7) ≈ 2.73 (its third case).
        let t = try CenterNetTargets(boxes: [[Box(x1: 0, y1: 0, x2: 40, y2: 40, label: 0)]], numClasses: 1, imageSize: (64, 64))
        // Radius 2: sigma 5/6; the bump reaches two cells, not three.
        let c = 5 * 16 + 5, sigma = 5.0 / 6
        XCTAssertEqual(Double(t.heatmap.storage[c + 2]), exp(-4 / (2 * sigma * sigma)), accuracy: 1e-6)
        XCTAssertEqual(t.heatmap.storage[c + 3], 0)
    }

    func testEncodeDecodeRoundTrip() throws {
        let t = try CenterNetTargets(boxes: boxes, numClasses: 3, imageSize: (64, 64))
        let decoded = try DetectionDecoder(k: 20, threshold: 0.5, nmsIoU: 0.5).decode(try perfectHeads(t))
        XCTAssertEqual(decoded.count, 3)
        for (found, truth) in zip(decoded, boxes) {
            XCTAssertEqual(found.count, truth.count)
            for box in truth {
                let match = found.first { $0.box.label == box.label && $0.box.iou(box) > 0.999 }
                XCTAssertNotNil(match, "\(box) not in \(found)")
                if let match {
                    XCTAssertEqual(match.box.x1, box.x1, accuracy: 1e-4)
                    XCTAssertEqual(match.box.y2, box.y2, accuracy: 1e-4)
                    XCTAssertEqual(match.score, 1, accuracy: 1e-5)
                }
            }
        }
        // Through forward's concatenated layout as well.
        let joined = try perfectHeads(t).concatenated()
        let again = try DetectionDecoder(threshold: 0.5).decode(try DetectorHeads(concatenated: joined, numClasses: 3))
        XCTAssertEqual(again, decoded)
        // k caps the detections per image, best first.
        let top = try DetectionDecoder(k: 1, threshold: 0.5).decode(try perfectHeads(t))
        XCTAssertEqual(top.map(\.count), [1, 0, 1])
    }

    func testNonMaximumSuppression() {
        let b = [Box(x1: 0, y1: 0, x2: 10, y2: 10, label: 0),
                 Box(x1: 1, y1: 0, x2: 11, y2: 10, label: 0),   // IoU 0.818 with the first
                 Box(x1: 1, y1: 0, x2: 11, y2: 10, label: 1),   // same place, other class
                 Box(x1: 5, y1: 0, x2: 15, y2: 10, label: 0),   // IoU 1/3 with the first
                 Box(x1: 20, y1: 20, x2: 30, y2: 30, label: 0)]
        let scores: [Float] = [0.6, 0.9, 0.8, 0.7, 0.1]
        XCTAssertEqual(nonMaximumSuppression(b, scores: scores, iouThreshold: 0.5), [1, 2, 3, 4])
        XCTAssertEqual(nonMaximumSuppression(b, scores: scores, iouThreshold: 0.3), [1, 2, 4])
        XCTAssertEqual(nonMaximumSuppression(b, scores: scores, iouThreshold: 0.9), [1, 2, 3, 0, 4])
        XCTAssertEqual(nonMaximumSuppression([], scores: [], iouThreshold: 0.5), [])
    }

    func testDecodingSuppressesOverlaps() throws {
        // Two peaks of one class two cells apart, boxes of 3 cells: x 0...12 and 8...20 pixels,
        // IoU 0.2.
        let heat = try Tensor.full([1, 1, 4, 8], -10)
        heat.withMutableValues { $0[1 * 8 + 1] = 3; $0[1 * 8 + 3] = 2 }
        let size = try Tensor.full([1, 2, 4, 8], 3)
        let offset = try Tensor.full([1, 2, 4, 8], 0.5)
        let heads = try DetectorHeads(heatmap: heat, size: size, offset: offset)
        XCTAssertEqual(try DetectionDecoder(threshold: 0.1, nmsIoU: 0.1).decode(heads)[0].count, 1)
        XCTAssertEqual(try DetectionDecoder(threshold: 0.1, nmsIoU: 0.3).decode(heads)[0].count, 2)
        XCTAssertEqual(try DetectionDecoder(threshold: 0.1, nmsIoU: nil).decode(heads)[0].count, 2)
        XCTAssertEqual(try DetectionDecoder(threshold: 0.9, nmsIoU: nil).decode(heads)[0].count, 1, "threshold")
        XCTAssertThrowsError(try DetectionDecoder(k: 0))
        XCTAssertThrowsError(try DetectionDecoder(nmsIoU: 2))
    }

    /// The decoder's peaks are CenterNet's: cells at least the threshold that equal their 3x3
    /// max pooling (padded), here on logits with plateaus (ties are peaks), peaks on the borders
    /// and a NaN, whose neighbours are no peaks.
    func testDecodedPeaksAreTheMaxPoolingPeaks() throws {
        let (n, c, h, w) = (2, 3, 7, 9)
        var logits = try Tensor.randn([n, c, h, w], seed: 11).storage.map { ($0 * 2).rounded() / 2 }
        logits[4 * w + 5] = .nan
        let heat = try Tensor(shape: [n, c, h, w], storage: logits)
        let heads = try DetectorHeads(heatmap: heat, size: try Tensor.full([n, 2, h, w], 1), offset: try Tensor.zeros([n, 2, h, w]))
        for threshold: Float in [0.3, 0.6, -1] {
            let p = heat.sigmoid()
            let pooled = try Tensor.maxPool2d(p, Pool2dOptions(kernel: (3, 3), stride: (1, 1), padding: (1, 1)))
            let decoded = try DetectionDecoder(k: n * c * h * w, threshold: threshold, nmsIoU: nil).decode(heads)
            for i in 0..<n {
                var expected: [Detection] = []
                for j in 0..<(c * h * w) {
                    let v = p.storage[i * c * h * w + j]
                    guard v == pooled.storage[i * c * h * w + j], v >= threshold else { continue }
                    let (y, x) = ((j % (h * w)) / w, j % w)
                    let (cx, cy) = (Float(x * Detector.stride), Float(y * Detector.stride))
                    let half = Float(Detector.stride) / 2
                    expected.append(Detection(box: Box(x1: cx - half, y1: cy - half, x2: cx + half, y2: cy + half, label: j / (h * w)),
                                              score: v))
                }
                expected.sort { $0.score > $1.score }
                XCTAssertEqual(decoded[i].count, expected.count, "image \(i), threshold \(threshold)")
                XCTAssertEqual(Set(decoded[i].map { "\($0.box) \($0.score)" }), Set(expected.map { "\($0.box) \($0.score)" }),
                               "image \(i), threshold \(threshold)")
            }
        }
    }

    func testLoss() throws {
        let t = try CenterNetTargets(boxes: boxes, numClasses: 3, imageSize: (64, 64))
        let perfect = try DetectionLoss(try perfectHeads(t), t)
        XCTAssertEqual(try perfect.size.item(), 0)
        XCTAssertEqual(try perfect.offset.item(), 0)
        let zero = try DetectorHeads(heatmap: Tensor.zeros(t.heatmap.shape), size: Tensor.zeros(t.size.shape), offset: Tensor.zeros(t.size.shape))
        let loss = try DetectionLoss(zero, t)
        // Size: |4|+|3|+|7|+|6.5|+|1.5|+|2.5|+|16|+|16| over 8 values; offsets likewise.
        XCTAssertEqual(try loss.size.item(), (4 + 3 + 7 + 6.5 + 1.5 + 2.5 + 16 + 16) / 8, accuracy: 1e-3)
        XCTAssertEqual(try loss.offset.item(), (0.75 + 0.75 + 0.75) / 8, accuracy: 1e-3)
        XCTAssertLessThan(try perfect.total.item(), try loss.total.item())
        let expectedTotal = try loss.heatmap.item() + 0.1 * loss.size.item() + loss.offset.item()
        XCTAssertEqual(try loss.total.item(), expectedTotal, accuracy: 1e-5)
        XCTAssertThrowsError(try DetectionLoss(zero, boxes: [[]], imageSize: (64, 64)))
    }

    /// The attack's use: the loss of a detector's output differentiated with respect to the image.
    func testLossGradientReachesTheImage() throws {
        ParameterInit.seed(9)
        let det = try Detector(inChannels: 3, numClasses: 3, width: 4)
        det.eval()
        let image = try Tensor.rand([3, 3, 64, 64], seed: 3)
        image.requiresGrad = true
        let loss = try DetectionLoss(try det.heads(image), boxes: boxes, imageSize: (64, 64)).total
        let g = try grad(of: loss, wrt: [image])[0]
        XCTAssertEqual(g.shape, image.shape)
        XCTAssertFalse(g.hasNonFinite)
        // A small step against the gradient lowers the loss.
        let step = try image.detached() - g.sign() * Float(1e-3)
        let after = try withoutGrad { try DetectionLoss(try det.heads(step), boxes: boxes, imageSize: (64, 64)).total.item() }
        XCTAssertLessThan(after, try loss.item())
    }
}
