import Attacks
import Tensor
import TestSupport
import XCTest

final class APGDTests: XCTestCase {
    func testCheckpointsFollowThePapersSchedule() {
        // p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99, (1.05)
        XCTAssertEqual(APGD.checkpoints(steps: 100), [22, 41, 57, 70, 80, 87, 93, 99])
        XCTAssertEqual(APGD.checkpoints(steps: 10), [3, 5, 6, 7, 8, 9, 10])
        XCTAssertEqual(APGD.checkpoints(steps: 1), [1])
        XCTAssertEqual(APGD.checkpoints(steps: 0), [])
        XCTAssertEqual(APGD.checkpoints(steps: Int.max).count, 8)
    }

    /// At eps 8/255 and the same number of steps, APGD flips at least as many predictions as
    /// PGD, and stays in the L∞ ball and the valid range.
    func testAtLeastAsStrongAsPGDWithinTheBall() throws {
        let eps: Float = 8 / 255, steps = 10
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
            func successes(_ images: Tensor) throws -> Int {
                try AttackTask.classification.success(try withoutGrad { try model(images) }, labels: y, targeted: false).filter { $0 }.count
            }
            let pgd = try GradientAttacks.pgd(eps: eps, step: 2 / 255, steps: steps, randomStart: false)
                .run(model: model, task: .classification, images: x, labels: y)
            // DLR on the small CNN only, to keep ResNet-18's share of the suite small.
            for loss in name.hasPrefix("resnet") ? [APGD.Loss.crossEntropy] : APGD.Loss.allCases {
                var apgd = APGD()
                apgd.eps = eps
                apgd.steps = steps
                apgd.loss = loss
                let result = try apgd.run(model: model, task: .classification, images: x, labels: y)
                XCTAssertGreaterThanOrEqual(try successes(result.adversarial), try successes(pgd.adversarial), "\(name) \(loss)")
                XCTAssertLessThanOrEqual(try (result.adversarial - x).abs().max().item(), eps + 1e-6, "\(name) \(loss)")
                XCTAssertGreaterThanOrEqual(try result.adversarial.min().item(), 0)
                XCTAssertLessThanOrEqual(try result.adversarial.max().item(), 1)
                XCTAssertEqual(result.gradients, steps * y.count, "N gradients")
                XCTAssertEqual(result.losses.count, steps + 1)
            }
        }
    }

    func testL2StaysInTheBall() throws {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        var apgd = APGD()
        apgd.norm = .l2
        apgd.eps = 0.5
        apgd.steps = 10
        let result = try apgd.run(model: model, task: .classification, images: x, labels: y)
        for norm in try (result.adversarial - x).normPerSample(p: 2).storage { XCTAssertLessThanOrEqual(norm, 0.5 * (1 + 1e-5)) }
        XCTAssertGreaterThanOrEqual(try result.adversarial.min().item(), 0)
        XCTAssertLessThanOrEqual(try result.adversarial.max().item(), 1)
    }

    /// A flat loss never increases: both conditions hold at every checkpoint, so every sample
    /// halves its step there, and only there.
    func testFlatLossHalvesTheStepAtEveryCheckpoint() throws {
        var seen: [(Int, [Float], [Bool])] = []
        var apgd = APGD()
        apgd.eps = 0.1
        apgd.steps = 100
        apgd.onCheckpoint = { seen.append(($0, $1, $2)) }
        let x = try Tensor.rand([2, 1, 3, 3], seed: 1)
        _ = try apgd.run(model: ConstantClassifier(), task: .classification, images: x, labels: try Tensor(shape: [2], storage: [0, 1]))
        XCTAssertEqual(seen.map(\.0), [22, 41, 57, 70, 80, 87, 93, 99])
        for (j, entry) in seen.enumerated() {
            XCTAssertEqual(entry.2, [true, true])
            for size in entry.1 { XCTAssertEqual(size, 0.2 / Float(1 << (j + 1)), accuracy: 1e-9) }
        }
    }

    /// On a two-class linear classifier the first step reaches the ball's corner, and the loss then stays
    /// put. Condition (1) counts that one increase: with ρ = 0.75 it is too few by the first
    /// checkpoint (1 of 22 steps), with a tiny ρ it is enough, and from the second checkpoint on
    /// there are none.
    func testConditionOneCountsTheIncreasesSinceTheLastCheckpoint() throws {
        // Two classes: the gradient is a multiple of w₁ − w₀, so its sign never changes.
        let linear = try Linear(inFeatures: 4, outFeatures: 2)
        try linear.weight.assign(try Tensor(shape: [2, 4], storage: [0.9, -0.4, 0.3, 0.7, -0.6, 0.8, -0.2, 0.5]))
        let model = Sequential([Flatten(), linear])
        let x = try Tensor.rand([2, 1, 2, 2], seed: 4) * 0.4 + 0.3
        let labels = try Tensor(shape: [2], storage: [0, 1])
        for (rho, firstHalves) in [(Float(0.75), true), (0.01, false)] {
            var halvings: [[Bool]] = []
            var apgd = APGD()
            apgd.eps = 0.05
            apgd.steps = 100
            apgd.rho = rho
            apgd.randomStart = false
            apgd.onCheckpoint = { _, _, halved in halvings.append(halved) }
            _ = try apgd.run(model: model, task: .classification, images: x, labels: labels)
            XCTAssertEqual(halvings.first, [firstHalves, firstHalves], "rho \(rho)")
            for later in halvings.dropFirst() { XCTAssertEqual(later, [true, true], "rho \(rho)") }
        }
    }

    func testRejectsBadOptions() {
        var apgd = APGD()
        apgd.norm = .none
        XCTAssertThrowsError(try apgd.validate()) { XCTAssertEqual(($0 as? TensorError)?.message, "apgd: norm must be linf or l2, got none") }
        apgd = APGD()
        apgd.loss = .dlr
        apgd.targeted = true
        XCTAssertThrowsError(try apgd.validate()) {
            XCTAssertEqual(($0 as? TensorError)?.message, "apgd_dlr: the dlr loss is untargeted; use the ce loss for a targeted attack")
        }
        apgd = APGD()
        apgd.steps = 0
        XCTAssertThrowsError(try apgd.validate()) { XCTAssertEqual(($0 as? TensorError)?.message, "apgd: steps must be at least 1, got 0") }
    }
}

/// The same logits whatever the image: the loss is flat.
private final class ConstantClassifier: Module {
    override func forward(_ x: Tensor) throws -> Tensor {
        let n = x.shape.first ?? 0
        return try Tensor(shape: [n, 3], storage: (0..<(3 * n)).map { Float($0 % 3) * 0.5 })
    }
}
