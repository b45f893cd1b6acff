import Attacks
import Foundation
import Tensor
import XCTest

/// The detection task of the attack engine: box labels, the loss and its gradient, the success
/// definition on hand-made head outputs, the gradient attacks and DAG on a small detector
/// trained here on bright squares.
final class DetectionAttackTests: XCTestCase {
    // MARK: - A detector that finds squares

    /// Bright squares on black, 32x32, the class by size (6 px: 0, 12 px: 1), one per image.
    static func squares(count: Int, seed: Int) throws -> (Tensor, [[Box]]) {
        var pixels = [Float](repeating: 0, count: count * 32 * 32)
        var boxes: [[Box]] = []
        var r = seed
        func rnd(_ n: Int) -> Int {
            r = (r &* 1103515245 &+ 12345) % 2147483648
            return r % n
        }
        for i in 0..<count {
            let s = rnd(2) == 0 ? 6 : 12
            let x1 = rnd(32 - s), y1 = rnd(32 - s)
            for y in y1..<(y1 + s) { for x in x1..<(x1 + s) { pixels[i * 1024 + y * 32 + x] = 1 } }
            boxes.append([Box(x1: Float(x1), y1: Float(y1), x2: Float(x1 + s), y2: Float(y1 + s), label: s == 6 ? 0 : 1)])
        }
        return (try Tensor(shape: [count, 1, 32, 32], storage: pixels), boxes)
    }

    /// Trained once for the whole class (plain SGD on the detection loss, as test_layers.lua).
    nonisolated(unsafe) static var trained: Detector?

    static func detector() throws -> Detector {
        if let trained { return trained }
        ParameterInit.seed(5)
        let det = try Detector(inChannels: 1, numClasses: 2, width: 8)
        let parameters = det.namedParameters().map(\.tensor)
        let sgd = try SGD(parameters: parameters, learningRate: 0.05)
        for step in 1...150 {
            let (x, boxes) = try squares(count: 8, seed: step)
            let loss = try DetectionLoss(det.heads(x), boxes: boxes, imageSize: (32, 32)).total
            try sgd.step(grad(of: loss, wrt: parameters))
        }
        det.eval()
        trained = det
        return det
    }

    func map50(_ det: Detector, _ x: Tensor, _ boxes: [[Box]]) throws -> Float {
        let found = try withoutGrad { try DetectionDecoder().decode(det.heads(x)) }
        return try DetectionMetrics.meanAveragePrecision(detections: found, truths: boxes).map
    }

    // MARK: - Labels, checks, loss

    func testBoxLabelsRoundTrip() throws {
        let boxes = [[Box(x1: 1, y1: 2, x2: 5, y2: 6, label: 1), Box(x1: 0, y1: 0, x2: 4, y2: 4, label: 0)], []]
        let t = try DetectionLabels.tensor(boxes)
        XCTAssertEqual(t.shape, [2, 2, 5])
        XCTAssertEqual(Array(t.storage[10..<15]), [0, 0, 0, 0, -1])
        XCTAssertEqual(try DetectionLabels.boxes(t), boxes)
        XCTAssertEqual(try DetectionLabels.tensor([[], []]).shape, [2, 1, 5])
        XCTAssertEqual(try DetectionLabels.boxes(DetectionLabels.tensor([[], []])), [[], []])
    }

    func testChecks() throws {
        let output = try Tensor.zeros([2, 6, 8, 8])
        let labels = try DetectionLabels.tensor([[Box(x1: 0, y1: 0, x2: 4, y2: 4, label: 1)], []])
        XCTAssertNoThrow(try AttackTask.detection.check(output: output, labels: labels, op: "pgd"))
        let bad = try DetectionLabels.tensor([[Box(x1: 0, y1: 0, x2: 4, y2: 4, label: 2)], []])
        XCTAssertThrowsError(try AttackTask.detection.check(output: output, labels: bad, op: "pgd")) {
            XCTAssertTrue("\($0)".contains("box 1 of image 1 has class 2"), "\($0)")
        }
        XCTAssertThrowsError(try AttackTask.detection.check(output: output, labels: try Tensor.zeros([2]), op: "pgd")) {
            XCTAssertTrue("\($0)".contains("expected box labels of size 2xMx5"), "\($0)")
        }
        XCTAssertThrowsError(try AttackTask.detection.check(output: try Tensor.zeros([2, 4, 8, 8]), labels: labels, op: "pgd")) {
            XCTAssertTrue("\($0)".contains("classes + 4"), "\($0)")
        }
        XCTAssertThrowsError(try AttackTask.detection.success(output, labels: labels, targeted: true))
    }

    /// The task loss is the detector's loss, and its gradient reaches the image.
    func testLossIsTheDetectorsAndReachesTheImage() throws {
        ParameterInit.seed(2)
        let det = try Detector(inChannels: 1, numClasses: 2, width: 4)
        det.eval()
        let (x, boxes) = try Self.squares(count: 2, seed: 3)
        let labels = try DetectionLabels.tensor(boxes)
        let image = x.detached()
        image.requiresGrad = true
        let output = try det(image)
        let loss = try AttackTask.detection.loss(output, labels)
        let reference = try DetectionLoss(det.heads(x), boxes: boxes, imageSize: (32, 32)).total
        XCTAssertEqual(try loss.item(), try reference.item(), accuracy: 1e-5)
        let g = try grad(of: loss, wrt: [image])[0]
        XCTAssertGreaterThan(try g.abs().max().item(), 0)
        let perSample = try AttackTask.detection.lossPerSample(output, labels)
        XCTAssertEqual(perSample.shape, [2])
        let first = try DetectionLoss(det.heads(x.slice(dim: 0, start: 0, end: 1)), boxes: [boxes[0]], imageSize: (32, 32)).total
        XCTAssertEqual(perSample.storage[0], try first.item(), accuracy: 1e-5)
    }

    // MARK: - Success on hand-made outputs

    /// Heads on an 8x8 map (32x32 input) with one peak of `class` at cell (3, 2) for a box of
    /// 12x8 pixels centred at (14, 10) pixels: a detection of that box when `score` passes 0.3.
    func handMade(score: Float, class cls: Int) throws -> Tensor {
        var heat = [Float](repeating: -8, count: 2 * 64)
        heat[cls * 64 + 2 * 8 + 3] = Float(log(Double(score) / (1 - Double(score))))
        var size = [Float](repeating: 0, count: 2 * 64), offset = size
        size[2 * 8 + 3] = 3
        size[64 + 2 * 8 + 3] = 2
        offset[2 * 8 + 3] = 0.5
        offset[64 + 2 * 8 + 3] = 0.5
        return try DetectorHeads(heatmap: Tensor(shape: [1, 2, 8, 8], storage: heat), size: Tensor(shape: [1, 2, 8, 8], storage: size),
                                 offset: Tensor(shape: [1, 2, 8, 8], storage: offset)).concatenated()
    }

    func testSuccessMeansNoTrueBoxIsDetected() throws {
        let truth = Box(x1: 8, y1: 6, x2: 20, y2: 14, label: 1)
        let labels = try DetectionLabels.tensor([[truth]])
        let task = AttackTask.detection
        // Detected: same class, IoU 1.
        XCTAssertEqual(try task.agreement(handMade(score: 0.9, class: 1), labels: labels), [1])
        XCTAssertEqual(try task.success(handMade(score: 0.9, class: 1), labels: labels, targeted: false), [false])
        // Below the decoder's threshold 0.3, or of another class: not detected any more.
        XCTAssertEqual(try task.success(handMade(score: 0.25, class: 1), labels: labels, targeted: false), [true])
        XCTAssertEqual(try task.success(handMade(score: 0.9, class: 0), labels: labels, targeted: false), [true])
        // A box that overlaps too little (IoU < 0.5) is not a detection of it.
        let shifted = try DetectionLabels.tensor([[Box(x1: 16, y1: 6, x2: 28, y2: 14, label: 1)]])
        XCTAssertEqual(try task.success(handMade(score: 0.9, class: 1), labels: shifted, targeted: false), [true])
        // Two true boxes, one detected: agreement 1/2, no success.
        let two = try DetectionLabels.tensor([[truth, Box(x1: 0, y1: 20, x2: 8, y2: 28, label: 0)]])
        XCTAssertEqual(try task.agreement(handMade(score: 0.9, class: 1), labels: two), [0.5])
        XCTAssertEqual(try task.success(handMade(score: 0.9, class: 1), labels: two, targeted: false), [false])
        // An image without boxes: agreement 0, a success.
        XCTAssertEqual(try task.success(handMade(score: 0.9, class: 1), labels: DetectionLabels.tensor([[]]), targeted: false), [true])
    }

    func testMeanBestIoU() throws {
        let truth = [[Box(x1: 0, y1: 0, x2: 10, y2: 10, label: 0), Box(x1: 20, y1: 20, x2: 30, y2: 30, label: 1)]]
        let found = [[Detection(box: Box(x1: 0, y1: 0, x2: 10, y2: 5, label: 0), score: 0.9),
                      Detection(box: Box(x1: 0, y1: 0, x2: 10, y2: 10, label: 1), score: 0.9)]]
        XCTAssertEqual(try DetectionMetrics.meanBestIoU(detections: found, truths: truth), 0.25, accuracy: 1e-6)
        XCTAssertTrue(try DetectionMetrics.meanBestIoU(detections: [[]], truths: [[]]).isNaN)
    }

    // MARK: - Attacks on a trained detector

    func testGradientAttacksLowerMAP() throws {
        let det = try Self.detector()
        let (x, boxes) = try Self.squares(count: 8, seed: 999)
        let labels = try DetectionLabels.tensor(boxes)
        let clean = try map50(det, x, boxes)
        XCTAssertGreaterThan(clean, 0.6, "the detector must find the squares first")
        let attacks = [GradientAttacks.pgd(eps: 32 / 255, step: 8 / 255, steps: 10),
                       GradientAttacks.smia(eps: 32 / 255, step: 8 / 255, steps: 10),
                       GradientAttacks.mifgsm(eps: 32 / 255, step: 8 / 255, steps: 10)]
        for attack in attacks {
            let result = try attack.run(model: det, task: .detection, images: x, labels: labels)
            let after = try map50(det, result.adversarial, boxes)
            XCTAssertLessThan(after, clean - 0.3, "\(attack.name): mAP \(clean) -> \(after)")
            XCTAssertLessThanOrEqual(try (result.adversarial - x).abs().max().item(), 32 / 255 + 1e-6)
        }
        var apgd = APGD()
        apgd.eps = 32 / 255
        apgd.steps = 10
        let result = try apgd.run(model: det, task: .detection, images: x, labels: labels)
        XCTAssertLessThan(try map50(det, result.adversarial, boxes), clean - 0.3, "apgd")
        apgd.loss = .dlr
        XCTAssertThrowsError(try apgd.run(model: det, task: .detection, images: x, labels: labels))
    }

    func testDAGLowersMAP() throws {
        let det = try Self.detector()
        let (x, boxes) = try Self.squares(count: 8, seed: 999)
        let labels = try DetectionLabels.tensor(boxes)
        let clean = try map50(det, x, boxes)
        var dag = DAG()
        dag.steps = 60
        dag.gamma = 4 / 255
        let result = try dag.run(detector: det, images: x, labels: labels)
        let after = try map50(det, result.adversarial, boxes)
        XCTAssertLessThan(after, clean - 0.3, "dag: mAP \(clean) -> \(after)")
        let success = try AttackTask.detection.success(withoutGrad { try det(result.adversarial) }, labels: labels, targeted: false)
        XCTAssertGreaterThanOrEqual(success.filter { $0 }.count, 4, "images with every square hidden")
        XCTAssertLessThan(result.losses.last ?? 0, 0.5, "the objective (adversarial minus true logits) rises from below zero")
        dag.targeted = true
        XCTAssertThrowsError(try dag.run(detector: det, images: x, labels: labels))
    }

    func testReportHasMAP() throws {
        let det = try Self.detector()
        let (x, boxes) = try Self.squares(count: 4, seed: 77)
        let labels = try DetectionLabels.tensor(boxes)
        let attack = GradientAttacks.pgd(eps: 32 / 255, step: 8 / 255, steps: 5)
        let result = try attack.run(model: det, task: .detection, images: x, labels: labels)
        let cleanOutput = try withoutGrad { try det(x) }
        let report = try AttackReport(model: det, task: .detection, clean: x, cleanOutput: cleanOutput, labels: labels,
                                      targets: nil, result: result)
        XCTAssertEqual(try XCTUnwrap(report.cleanMAP50), try map50(det, x, boxes), accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(report.map50), try map50(det, result.adversarial, boxes), accuracy: 1e-6)
        XCTAssertLessThan(try XCTUnwrap(report.boxIoU), try XCTUnwrap(report.cleanBoxIoU))
        XCTAssertEqual(report.success, zip(report.agreement, [Float](repeating: 0, count: 4)).map { $0 == $1 })
    }
}
