import Attacks
import Tensor
import XCTest

/// The SMIA objective's gradient against central finite differences, with the gradient
/// flowing through the stabilization target (the default) and with it stopped.
final class SMIAObjectiveGradientTests: XCTestCase {
    func model() throws -> Module {
        ParameterInit.seed(7)
        let m = Sequential([
            try Conv2d(inChannels: 2, outChannels: 4, kernelSize: (3, 3), padding: (1, 1)),
            SmoothActivation(), Flatten(), try Linear(inFeatures: 4 * 6 * 6, outFeatures: 3),
        ])
        m.eval()
        return m
    }

    func objective(_ model: Module, clean: Tensor, current: Tensor, labels: Tensor, options: SMIAOptions) throws -> Tensor {
        let context = AttackContext(model: model, task: .classification, clean: clean, current: current, previous: clean,
                                    labels: labels, targeted: false, iteration: 2, output: try model(current))
        return try smiaLoss(options)(context)
    }

    func check(detachTarget: Bool) throws {
        let m = try model()
        let clean = try Tensor.rand([2, 2, 6, 6], seed: 1)
        let start = try clean + (Tensor.rand(clean.shape, seed: 2) - 0.5) * 0.2
        let labels = try Tensor(shape: [2], storage: [0, 2])
        var options = SMIAOptions()
        options.kernelSize = 3
        options.sigma = 0.8
        options.detachTarget = detachTarget

        let current = start.detached()
        current.requiresGrad = true
        let analytic = try grad(of: objective(m, clean: clean, current: current, labels: labels, options: options), wrt: [current])[0]

        // With the target detached, the differentiated function holds the target at its value
        // for `start`: L(f(x̃), y) − α L(f(x̃), p₀).
        let fixedTarget = try withoutGrad {
            try m(clean + Tensor.gaussianBlur(start - clean, size: options.kernelSize, sigma: options.sigma)).softmax(dim: 1)
        }
        func reference(_ x: Tensor) throws -> Tensor {
            if !detachTarget { return try objective(m, clean: clean, current: x, labels: labels, options: options) }
            let output = try m(x)
            return try Tensor.crossEntropy(output, labels) - Tensor.crossEntropy(output, fixedTarget) * options.alpha
        }

        // Central differences in float32 with a step that balances rounding and curvature.
        let h: Float = 1e-2
        var worst: Float = 0
        let scale = analytic.storage.map { Swift.abs($0) }.max() ?? 1
        for i in stride(from: 0, to: start.count, by: 5) {
            var plus = start.storage, minus = start.storage
            plus[i] += h
            minus[i] -= h
            let fp = try withoutGrad { try reference(Tensor(shape: start.shape, storage: plus)).item() }
            let fm = try withoutGrad { try reference(Tensor(shape: start.shape, storage: minus)).item() }
            worst = Swift.max(worst, Swift.abs((fp - fm) / (2 * h) - analytic.storage[i]))
        }
        XCTAssertLessThan(worst / scale, 2e-2, "detachTarget: \(detachTarget)")
    }

    func testGradientThroughTheTarget() throws { try check(detachTarget: false) }
    func testGradientWithTheTargetDetached() throws { try check(detachTarget: true) }

    /// The two settings must differ, or the test above would not see the target branch.
    func testTheTargetBranchContributes() throws {
        let m = try model()
        let clean = try Tensor.rand([2, 2, 6, 6], seed: 1)
        let current = try (clean + (Tensor.rand(clean.shape, seed: 2) - 0.5) * 0.2).detached()
        current.requiresGrad = true
        let labels = try Tensor(shape: [2], storage: [0, 2])
        var options = SMIAOptions()
        options.kernelSize = 3
        let flowing = try grad(of: objective(m, clean: clean, current: current, labels: labels, options: options), wrt: [current])[0]
        options.detachTarget = true
        let stopped = try grad(of: objective(m, clean: clean, current: current, labels: labels, options: options), wrt: [current])[0]
        XCTAssertGreaterThan(try (flowing - stopped).abs().max().item(), 1e-4)
    }
}

/// tanh as a layer: smooth, so finite differences see no kinks.
private final class SmoothActivation: Module {
    override func forward(_ x: Tensor) throws -> Tensor { x.tanh() }
}

/// The same for a detector's objective: the detection loss against true boxes minus the
/// soft-target stabilization on the heads (`DetectionTask.stabilization`), target branch
/// included, soft and hard targets.
final class SMIADetectionObjectiveGradientTests: XCTestCase {
    /// A smooth stand-in detector: (N, 2, 16, 16) → heads (N, 2 + 4, 4, 4), stride 4.
    func model() throws -> Module {
        ParameterInit.seed(11)
        let m = Sequential([
            try Conv2d(inChannels: 2, outChannels: 8, kernelSize: (4, 4), stride: (4, 4)),
            SmoothDetectionActivation(), try Conv2d(inChannels: 8, outChannels: 6, kernelSize: (1, 1)),
        ])
        m.eval()
        return m
    }

    let labels: Tensor = {
        (try? DetectionLabels.tensor([[Box(x1: 0, y1: 0, x2: 8, y2: 6, label: 0)],
                                      [Box(x1: 6, y1: 6, x2: 14, y2: 14, label: 1), Box(x1: 1, y1: 9, x2: 5, y2: 15, label: 0)]]))
            ?? Tensor(scalar: 0)
    }()

    func objective(_ model: Module, clean: Tensor, current: Tensor, options: SMIAOptions) throws -> Tensor {
        let context = AttackContext(model: model, task: .detection, clean: clean, current: current, previous: clean,
                                    labels: labels, targeted: false, iteration: 2, output: try model(current))
        return try smiaLoss(options)(context)
    }

    func check(detachTarget: Bool, hardTarget: Bool) throws {
        let m = try model()
        let clean = try Tensor.rand([2, 2, 16, 16], seed: 1)
        let start = try clean + (Tensor.rand(clean.shape, seed: 2) - 0.5) * 0.2
        var options = SMIAOptions()
        options.kernelSize = 3
        options.sigma = 0.8
        options.detachTarget = detachTarget
        options.hardTarget = hardTarget

        let current = start.detached()
        current.requiresGrad = true
        let analytic = try grad(of: objective(m, clean: clean, current: current, options: options), wrt: [current])[0]
        let fixedTarget = try withoutGrad {
            try m(clean + Tensor.gaussianBlur(start - clean, size: options.kernelSize, sigma: options.sigma))
        }
        func reference(_ x: Tensor) throws -> Tensor {
            if !detachTarget { return try objective(m, clean: clean, current: x, options: options) }
            let output = try m(x)
            return try AttackTask.detection.loss(output, labels)
                - DetectionTask.stabilization(output, target: fixedTarget, hard: hardTarget) * options.alpha
        }
        // A smaller step than for the classifier: the L1 terms compare heads of x̃ and of
        // x + W∗η, which differ little, so their kinks lie close to the sampled points.
        let h: Float = 4e-3
        var worst: Float = 0
        let scale = analytic.storage.map { Swift.abs($0) }.max() ?? 1
        for i in stride(from: 0, to: start.count, by: 13) {
            var plus = start.storage, minus = start.storage
            plus[i] += h
            minus[i] -= h
            let fp = try withoutGrad { try reference(Tensor(shape: start.shape, storage: plus)).item() }
            let fm = try withoutGrad { try reference(Tensor(shape: start.shape, storage: minus)).item() }
            worst = Swift.max(worst, Swift.abs((fp - fm) / (2 * h) - analytic.storage[i]))
        }
        XCTAssertGreaterThan(scale, 0)
        XCTAssertLessThan(worst / scale, 2e-2, "detachTarget: \(detachTarget), hardTarget: \(hardTarget)")
    }

    func testGradientThroughTheTarget() throws { try check(detachTarget: false, hardTarget: false) }
    func testGradientWithTheTargetDetached() throws { try check(detachTarget: true, hardTarget: false) }
    func testGradientWithAHardTarget() throws { try check(detachTarget: false, hardTarget: true) }

    func testTheTargetBranchContributes() throws {
        let m = try model()
        let clean = try Tensor.rand([2, 2, 16, 16], seed: 1)
        let current = try (clean + (Tensor.rand(clean.shape, seed: 2) - 0.5) * 0.2).detached()
        current.requiresGrad = true
        var options = SMIAOptions()
        options.kernelSize = 3
        let flowing = try grad(of: objective(m, clean: clean, current: current, options: options), wrt: [current])[0]
        options.detachTarget = true
        let stopped = try grad(of: objective(m, clean: clean, current: current, options: options), wrt: [current])[0]
        XCTAssertGreaterThan(try (flowing - stopped).abs().max().item(), 1e-4)
        // And the stabilization term itself changes the gradient.
        options.alpha = 0
        let deviation = try grad(of: objective(m, clean: clean, current: current, options: options), wrt: [current])[0]
        XCTAssertGreaterThan(try (deviation - stopped).abs().max().item(), 1e-4)
    }

    /// A hard target holds the heatmap at the target's peaks: 1 there, 0 elsewhere.
    func testHardTargetIsThePeaks() throws {
        var heat = [Float](repeating: -6, count: 16)
        heat[5] = 2
        heat[6] = 1     // next to a higher cell: not a peak
        heat[15] = -0.5 // sigmoid 0.38 ≥ 0.3, a peak of its own
        let zeros = [Float](repeating: 0, count: 32)
        let target = try DetectorHeads(heatmap: Tensor(shape: [1, 1, 4, 4], storage: heat), size: Tensor(shape: [1, 2, 4, 4], storage: zeros),
                                       offset: Tensor(shape: [1, 2, 4, 4], storage: zeros)).concatenated()
        // Output logits equal to the peaks' perfect logits (±20) give a near-zero heatmap term.
        var perfect = [Float](repeating: -20, count: 16)
        perfect[5] = 20
        perfect[15] = 20
        let output = try DetectorHeads(heatmap: Tensor(shape: [1, 1, 4, 4], storage: perfect), size: Tensor(shape: [1, 2, 4, 4], storage: zeros),
                                       offset: Tensor(shape: [1, 2, 4, 4], storage: zeros)).concatenated()
        XCTAssertLessThan(try DetectionTask.stabilization(output, target: target, hard: true).item(), 1e-6)
        XCTAssertGreaterThan(try DetectionTask.stabilization(output, target: target, hard: false).item(), 0.1)
    }
}

private final class SmoothDetectionActivation: Module {
    override func forward(_ x: Tensor) throws -> Tensor { x.tanh() }
}
