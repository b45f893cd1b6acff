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
