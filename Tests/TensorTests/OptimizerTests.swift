import Foundation
import Tensor
import XCTest

/// Optimizer steps against PyTorch's update rules, followed by hand for three steps on a
/// parameter (1, -2) with the gradients (0.5, 1), (-0.2, 0.4), (0.3, -0.1).
final class OptimizerTests: XCTestCase {
    let grads: [[Float]] = [[0.5, 1], [-0.2, 0.4], [0.3, -0.1]]

    /// The parameter after each step of `make(parameter)`.
    func trajectory(_ make: ([Tensor]) throws -> Optimizer) throws -> [[Float]] {
        let p = Make.tensor([2], [1, -2])
        let optimizer = try make([p])
        return try grads.map { g in
            try optimizer.step([Make.tensor([2], g)])
            return p.storage
        }
    }

    func assertTrajectory(_ got: [[Float]], _ expected: [[Float]], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        for (k, (a, e)) in zip(got, expected).enumerated() {
            for (x, y) in zip(a, e) {
                XCTAssertEqual(x, y, accuracy: 2e-6 * max(1, abs(y)), "\(label), step \(k + 1)", file: file, line: line)
            }
        }
    }

    func testSGD() throws {
        assertTrajectory(try trajectory { try SGD(parameters: $0, learningRate: 0.1) },
                         [[0.95, -2.1], [0.97, -2.14], [0.94, -2.13]], "plain")
        // Step 2 by hand: d = -0.2 + 0.01·0.949, b = 0.9·0.51 + 0.9·d, p = 0.949 - 0.1·b.
        assertTrajectory(try trajectory { try SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01) },
                         [[0.949, -2.098], [0.9202459, -2.2203118], [0.866538989, -2.31939414]], "momentum, dampening, weight decay")
        assertTrajectory(try trajectory { try SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01) },
                         [[0.9031, -2.1862], [0.89807411, -2.33742622], [0.817657258, -2.41605629]], "Nesterov")
    }

    func testAdam() throws {
        // The first step moves each value by lr against its gradient's sign, whatever its size.
        assertTrajectory(try trajectory { try Adam(parameters: $0, learningRate: 0.01, weightDecay: 0.1) },
                         [[0.99, -2.01], [0.984628325, -2.01829938], [0.97765342, -2.02212486]], "Adam, L2 weight decay")
        assertTrajectory(try trajectory { try Adam(parameters: $0, learningRate: 0.01, amsgrad: true) },
                         [[0.99, -2.01], [0.986543942, -2.01898575], [0.981099538, -2.02531083]], "AMSGrad")
        assertTrajectory(try trajectory { try Adam(parameters: $0, learningRate: 0.01, weightDecay: 0.1, decoupled: true) },
                         [[0.989, -2.008], [0.984554942, -2.01497775], [0.978125983, -2.01928785]], "AdamW")
    }

    func testLearningRateChangesBetweenSteps() throws {
        let p = Make.tensor([1], [1])
        let sgd = try SGD(parameters: [p], learningRate: 0.1)
        try sgd.step([Make.tensor([1], [1])])
        try sgd.setLearningRate(0.5)
        try sgd.step([Make.tensor([1], [1])])
        XCTAssertEqual(p.storage[0], 0.4, accuracy: 1e-6)
        XCTAssertEqual(sgd.stepCount, 2)
    }

    func testBadSettingsAndGradients() throws {
        let p = Make.tensor([2], [1, 2])
        XCTAssertThrowsError(try SGD(parameters: [p], learningRate: -0.1))
        XCTAssertThrowsError(try SGD(parameters: [p], learningRate: .nan))
        XCTAssertThrowsError(try SGD(parameters: [p], learningRate: 0.1, nesterov: true), "Nesterov needs momentum")
        XCTAssertThrowsError(try SGD(parameters: [p], learningRate: 0.1, momentum: 0.9, dampening: 0.5, nesterov: true))
        XCTAssertThrowsError(try SGD(parameters: [p, p], learningRate: 0.1), "a parameter twice")
        XCTAssertThrowsError(try Adam(parameters: [p], beta1: 1))
        XCTAssertThrowsError(try Adam(parameters: [p], weightDecay: -1))
        let sgd = try SGD(parameters: [p], learningRate: 0.1)
        XCTAssertThrowsError(try sgd.step([]))
        XCTAssertThrowsError(try sgd.step([Make.tensor([3], [1, 1, 1])]))
        XCTAssertEqual(p.storage, [1, 2], "a refused step changes nothing")
        XCTAssertEqual(sgd.stepCount, 0)
        XCTAssertThrowsError(try sgd.setLearningRate(-1))
    }
}

/// Learning-rate schedules and gradient clipping.
final class ScheduleAndClippingTests: XCTestCase {
    func testStepDecay() throws {
        let s = try LearningRateSchedule.stepDecay(lr: 0.1, every: 3, gamma: 0.5)
        XCTAssertEqual([0, 2, 3, 5, 6].map { s($0) }, [0.1, 0.1, 0.05, 0.05, 0.025])
        let m = try LearningRateSchedule.stepDecay(lr: 1, milestones: [2, 5], gamma: 0.1)
        for (t, e) in [(1, 1.0), (2, 0.1), (4, 0.1), (5, 0.01), (100, 0.01)] { XCTAssertEqual(m(t), e, accuracy: 1e-12) }
        XCTAssertThrowsError(try LearningRateSchedule.stepDecay(lr: 0.1, every: 0))
        XCTAssertThrowsError(try LearningRateSchedule.stepDecay(lr: 0.1, every: 2, milestones: [3]))
        XCTAssertThrowsError(try LearningRateSchedule.stepDecay(lr: 0.1, milestones: [5, 2]))
    }

    func testCosineAndWarmup() throws {
        let c = try LearningRateSchedule.cosine(lr: 1, steps: 4, minimum: 0.1)
        let expected = [1, 0.1 + 0.9 * (1 + cos(Double.pi / 4)) / 2, 0.55, 0.1 + 0.9 * (1 + cos(3 * Double.pi / 4)) / 2, 0.1, 0.1]
        for (t, e) in expected.enumerated() { XCTAssertEqual(c(t), e, accuracy: 1e-12, "step \(t)") }
        let w = try LearningRateSchedule.warmup(steps: 4, then: c)
        for (t, e) in [(0, 0.25), (1, 0.5), (3, 1.0), (4, 1.0), (6, 0.55), (100, 0.1)] {
            XCTAssertEqual(w(t), e, accuracy: 1e-12, "warm-up step \(t)")
        }
        let ws = try LearningRateSchedule.warmup(steps: 2, then: .stepDecay(lr: 0.2, every: 1, gamma: 0.5))
        XCTAssertEqual([0, 1, 2, 3].map { ws($0) }, [0.1, 0.2, 0.2, 0.1])
        XCTAssertThrowsError(try LearningRateSchedule.cosine(lr: 1, steps: 0))
        XCTAssertThrowsError(try LearningRateSchedule.cosine(lr: -1, steps: 10))
        XCTAssertThrowsError(try LearningRateSchedule.warmup(steps: 0, then: c))
    }

    func testClipGradNorm() throws {
        let a = Make.tensor([2], [3, 4]), b = Make.tensor([1], [12])
        let norm = try clipGradNorm([a, b], maxNorm: 6.5)
        XCTAssertEqual(norm, 13, accuracy: 1e-5)
        let scale: Float = 6.5 / (13 + 1e-6)
        assertValues(a, [2], [3 * scale, 4 * scale], accuracy: 1e-6, "first")
        assertValues(b, [1], [12 * scale], accuracy: 1e-6, "second")
        // Below the limit nothing changes.
        XCTAssertEqual(try clipGradNorm([a, b], maxNorm: 100), 6.5, accuracy: 1e-4)
        assertValues(a, [2], [3 * scale, 4 * scale], accuracy: 1e-6, "unchanged")
        XCTAssertThrowsError(try clipGradNorm([a], maxNorm: -1))
    }

    func testClipGradValue() throws {
        let g = Make.tensor([4], [-3, -0.5, 0.2, 7])
        try clipGradValue([g], limit: 1)
        XCTAssertEqual(g.storage, [-1, -0.5, 0.2, 1])
        XCTAssertThrowsError(try clipGradValue([g], limit: .infinity))
    }
}
