import Attacks
import Tensor
import XCTest

/// The task metrics against small cases worked out by hand in the comments.
final class TaskMetricsTests: XCTestCase {
    // Predicted [0, 1, 2, 2, 0, 1] against true [0, 1, 1, 2, 1, 0].
    let predicted: [Float] = [0, 1, 2, 2, 0, 1]
    let truth: [Float] = [0, 1, 1, 2, 1, 0]

    func testAccuracyFromLabelsAndFromScores() throws {
        let p = try Tensor(shape: [6], storage: predicted)
        let y = try Tensor(shape: [6], storage: truth)
        // Right at positions 1, 2 and 4: 3 of 6.
        XCTAssertEqual(try ClassificationMetrics.accuracy(p, y), 0.5)
        // Scores (N, K) whose argmax is `predicted`.
        var scores = [Float](repeating: 0, count: 18)
        for (i, c) in predicted.enumerated() { scores[i * 3 + Int(c)] = 2 }
        XCTAssertEqual(try ClassificationMetrics.accuracy(try Tensor(shape: [6, 3], storage: scores), y), 0.5)
    }

    func testConfusionRowsAreTrueClasses() throws {
        let p = try Tensor(shape: [6], storage: predicted)
        let y = try Tensor(shape: [6], storage: truth)
        // True 0: predicted 0 and 1. True 1: predicted 1, 2, 0. True 2: predicted 2.
        XCTAssertEqual(try ClassificationMetrics.confusion(p, y), [[1, 1, 0], [1, 1, 1], [0, 0, 1]])
        XCTAssertEqual(try ClassificationMetrics.confusion(p, y, classes: 4)[3], [0, 0, 0, 0])
        XCTAssertThrowsError(try ClassificationMetrics.confusion(p, y, classes: 2))
        XCTAssertThrowsError(try ClassificationMetrics.confusion(try Tensor(shape: [1], storage: [1e6]), try Tensor.zeros([1])))
    }

    func testFalsePositiveRateCountsHealthyImagesGraded() throws {
        let p = try Tensor(shape: [6], storage: predicted)
        let y = try Tensor(shape: [6], storage: truth)
        // Grade-0 images: positions 1 (predicted 0) and 6 (predicted 1): 1 of 2.
        XCTAssertEqual(try ClassificationMetrics.falsePositiveRate(p, y), 0.5)
        XCTAssertNil(try ClassificationMetrics.falsePositiveRate(p, try Tensor(shape: [6], storage: [1, 1, 2, 2, 3, 4])))
    }

    func testClassificationRejectsMismatchAndNonLabels() throws {
        let y = try Tensor(shape: [6], storage: truth)
        XCTAssertThrowsError(try ClassificationMetrics.accuracy(try Tensor.zeros([5]), y))
        XCTAssertThrowsError(try ClassificationMetrics.accuracy(try Tensor(shape: [6], storage: [0, 1, 0.5, 0, 0, 0]), y))
        XCTAssertThrowsError(try ClassificationMetrics.accuracy(try Tensor(shape: [6], storage: [0, 1, -1, 0, 0, 0]), y))
        XCTAssertThrowsError(try ClassificationMetrics.accuracy(try Tensor.zeros([0]), try Tensor.zeros([0])))
    }

    // One 2x3 image. True [[0, 1, 1], [0, 2, 2]], predicted [[0, 1, 0], [2, 2, 2]].
    func segmentation() throws -> (Tensor, Tensor) {
        (try Tensor(shape: [1, 2, 3], storage: [0, 1, 0, 2, 2, 2]), try Tensor(shape: [1, 2, 3], storage: [0, 1, 1, 0, 2, 2]))
    }

    func testPixelAccuracy() throws {
        let (p, y) = try segmentation()
        // Wrong at (0, 2) and (1, 0): 4 of 6.
        XCTAssertEqual(try SegmentationMetrics.pixelAccuracy(p, y), 4 / 6, accuracy: 1e-6)
    }

    func testIoUAndDicePerClassAndMeans() throws {
        let (p, y) = try segmentation()
        // Class 0: predicted 2, true 2, both 1 -> IoU 1/3, Dice 1/2.
        // Class 1: predicted 1, true 2, both 1 -> IoU 1/2, Dice 2/3.
        // Class 2: predicted 3, true 2, both 2 -> IoU 2/3, Dice 4/5.
        let iou = try SegmentationMetrics.iou(p, y)
        XCTAssertEqual(iou.perClass[0] ?? -1, 1 / 3, accuracy: 1e-6)
        XCTAssertEqual(iou.perClass[1] ?? -1, 1 / 2, accuracy: 1e-6)
        XCTAssertEqual(iou.perClass[2] ?? -1, 2 / 3, accuracy: 1e-6)
        XCTAssertEqual(iou.mean, 0.5, accuracy: 1e-6)
        XCTAssertEqual(try SegmentationMetrics.iou(p, y, classes: [1, 2]).mean, 7 / 12, accuracy: 1e-6)
        // Class 3 appears nowhere: it has no value and is left out of the mean.
        XCTAssertEqual(try SegmentationMetrics.iou(p, y, classes: [1, 2, 3]).mean, 7 / 12, accuracy: 1e-6)
        let dice = try SegmentationMetrics.dice(p, y, classes: [1, 2])
        XCTAssertEqual(dice.mean, 11 / 15, accuracy: 1e-6)
        XCTAssertEqual(dice.perClass[0] ?? -1, 0.5, accuracy: 1e-6)
        XCTAssertTrue(try SegmentationMetrics.iou(p, y, classes: [5]).mean.isNaN)
    }

    func testSegmentationPoolsPixelsOverImagesAndTakesScores() throws {
        // Two 1x4 images: true [1, 1, 1, 1] and [1, 0, 0, 0]; predicted [1, 1, 1, 1] and [0, 0, 0, 0].
        // Class 1 pooled: predicted 4, true 5, both 4 -> 4/5 (per image it would be 1 and 0, mean 1/2).
        // Class 0 pooled: predicted 4, true 3, both 3 -> 3/4.
        let y = try Tensor(shape: [2, 1, 4], storage: [1, 1, 1, 1, 1, 0, 0, 0])
        // The prediction as scores (N, K, H, W).
        let scores = try Tensor(shape: [2, 2, 1, 4], storage: [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
        let iou = try SegmentationMetrics.iou(scores, y)
        XCTAssertEqual(iou.perClass[1] ?? -1, 0.8, accuracy: 1e-6)
        XCTAssertEqual(iou.perClass[0] ?? -1, 0.75, accuracy: 1e-6)
        XCTAssertEqual(try SegmentationMetrics.pixelAccuracy(scores, y), 7 / 8, accuracy: 1e-6)
        XCTAssertThrowsError(try SegmentationMetrics.iou(try Tensor.zeros([2, 2, 1]), y))
        XCTAssertThrowsError(try SegmentationMetrics.dice(try Tensor(shape: [1, 1, 1], storage: [1e6]), try Tensor.zeros([1, 1, 1])))
    }

    func testBoxIoU() {
        // Overlap 1x2 = 2; union 4 + 4 - 2 = 6.
        XCTAssertEqual(Box(x1: 0, y1: 0, x2: 2, y2: 2, label: 0).iou(Box(x1: 1, y1: 0, x2: 3, y2: 2, label: 0)), 1 / 3, accuracy: 1e-6)
        XCTAssertEqual(Box(x1: 0, y1: 0, x2: 1, y2: 1, label: 0).iou(Box(x1: 1, y1: 1, x2: 2, y2: 2, label: 0)), 0)
    }

    func box(_ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float, _ c: Int) -> Box { Box(x1: x1, y1: y1, x2: x2, y2: y2, label: c) }
    func det(_ b: Box, _ s: Float) -> Detection { Detection(box: b, score: s) }

    func testMeanAveragePrecisionVOC() throws {
        // Image A: class 0 at (0,0,10,10) and class 1 at (20,20,30,30); image B: class 0 at (0,0,10,10).
        let truths = [[box(0, 0, 10, 10, 0), box(20, 20, 30, 30, 1)], [box(0, 0, 10, 10, 0)]]
        // Class 0 ranked: 0.9 hit A (TP), 0.8 the same box again (duplicate: FP), 0.7 in empty space of B (FP),
        // 0.6 hit B (TP). Recall .5 .5 .5 1, precision 1 .5 .33 .5; envelope 1 up to recall .5, then .5:
        // AP = .5 * 1 + .5 * .5 = .75. Class 1: no detection, AP 0. Class 2 has no ground truth: ignored.
        let detections = [[det(box(0, 0, 10, 10, 0), 0.9), det(box(0, 0, 10, 10, 0), 0.8), det(box(0, 0, 5, 5, 2), 0.95)],
                          [det(box(50, 50, 60, 60, 0), 0.7), det(box(0, 0, 10, 10, 0), 0.6)]]
        let r = try DetectionMetrics.meanAveragePrecision(detections: detections, truths: truths)
        XCTAssertEqual(r.perClass[0] ?? -1, 0.75, accuracy: 1e-6)
        XCTAssertEqual(r.perClass[1] ?? -1, 0)
        XCTAssertNil(r.perClass[2])
        XCTAssertEqual(r.map, 0.375, accuracy: 1e-6)
    }

    func testMeanAveragePrecisionEdgeCases() throws {
        let truths = [[box(0, 0, 10, 10, 0)]]
        // No predictions at all: AP 0.
        XCTAssertEqual(try DetectionMetrics.meanAveragePrecision(detections: [[]], truths: truths).map, 0)
        // No ground truth at all: NaN.
        XCTAssertTrue(try DetectionMetrics.meanAveragePrecision(detections: [[det(box(0, 0, 1, 1, 0), 1)]], truths: [[]]).map.isNaN)
        // IoU exactly 0.5 (half the box) is a match; below it is not.
        XCTAssertEqual(try DetectionMetrics.meanAveragePrecision(detections: [[det(box(0, 0, 10, 5, 0), 1)]], truths: truths).map, 1)
        XCTAssertEqual(try DetectionMetrics.meanAveragePrecision(detections: [[det(box(0, 0, 10, 4.9, 0), 1)]], truths: truths).map, 0)
        // A perfect detection ranked below a miss: precision 1/2 at full recall.
        let twoDetections = [[det(box(50, 50, 60, 60, 0), 0.9), det(box(0, 0, 10, 10, 0), 0.1)]]
        XCTAssertEqual(try DetectionMetrics.meanAveragePrecision(detections: twoDetections, truths: truths).map, 0.5, accuracy: 1e-6)
        XCTAssertThrowsError(try DetectionMetrics.meanAveragePrecision(detections: [], truths: truths))
        XCTAssertThrowsError(try DetectionMetrics.meanAveragePrecision(detections: [[det(box(0, 0, 1, 1, 0), .nan)]], truths: truths))
    }
}
