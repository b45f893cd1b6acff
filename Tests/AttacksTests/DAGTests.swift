import Attacks
import Tensor
import TestSupport
import XCTest

final class DAGTests: XCTestCase {
    /// A small fully convolutional segmenter with fixed random weights, 3 classes per pixel. The
    /// first kernels have zero mean, so classes follow local texture rather than brightness, and
    /// the last bias is shifted so each class's mean logit on `images` is 0 (else one class wins
    /// everywhere). Untrained, it is far more robust than a trained network: it takes a large
    /// budget to move its pixels, for PGD as for DAG.
    func segmenter(for images: Tensor) throws -> Module {
        ParameterInit.seed(11)
        let last = try Conv2d(inChannels: 8, outChannels: 3, kernelSize: (1, 1))
        let model = Sequential([
            try Conv2d(inChannels: 1, outChannels: 8, kernelSize: (3, 3), padding: (1, 1)), ReLU(),
            try Conv2d(inChannels: 8, outChannels: 8, kernelSize: (3, 3), padding: (1, 1)), ReLU(),
            last,
        ])
        model.eval()
        let first = try XCTUnwrap(model[0] as? Conv2d)
        // Zero-mean kernels: the classes follow the local texture, not the brightness.
        let kernels = try first.weight.reshaped([8, 9])
        try first.weight.assign(try (kernels - kernels.mean(dim: 1, keepDim: true)).reshaped([8, 1, 3, 3]))
        let means = try withoutGrad { try model(images).permuted([1, 0, 2, 3]).reshaped([3, -1]).mean(dim: 1) }
        let bias = try XCTUnwrap(last.bias)
        try bias.assign(try bias - means)
        return model
    }

    /// Bright discs of different sizes on a darker, noisy background.
    func images() throws -> Tensor {
        let (n, size) = (3, 20)
        var values = [Float](repeating: 0, count: n * size * size)
        let noise = try Tensor.rand([n * size * size], seed: 7).storage
        for i in 0..<n {
            let radius = Float(3 + 2 * i), center = Float(size) / 2
            for r in 0..<size {
                for c in 0..<size {
                    let d = ((Float(r) - center) * (Float(r) - center) + (Float(c) - center) * (Float(c) - center)).squareRoot()
                    let k = (i * size + r) * size + c
                    values[k] = (d < radius ? 0.8 : 0.2) + 0.1 * noise[k]
                }
            }
        }
        return try Tensor(shape: [n, 1, size, size], storage: values)
    }

    /// The model's own predictions as labels, so clean pixel accuracy is 100%.
    func setup() throws -> (Module, Tensor, Tensor) {
        let x = try images()
        let model = try segmenter(for: x)
        let labels = try withoutGrad { try model(x).argmax(dim: 1) }
        XCTAssertEqual(Set(labels.storage).count, 3, "the labels use every class")
        return (model, x, labels)
    }

    func pixelAccuracy(_ model: Module, _ images: Tensor, _ labels: Tensor) throws -> Float {
        let perSample = try AttackTask.segmentation.agreement(try withoutGrad { try model(images) }, labels: labels)
        return perSample.reduce(0, +) / Float(perSample.count)
    }

    /// The paper's settings (γ = 0.5 of 255, 200 iterations) more than halve the pixel accuracy.
    func testReducesPixelAccuracy() throws {
        let (model, x, labels) = try setup()
        let result = try DAG().run(model: model, images: x, labels: labels)
        XCTAssertLessThan(try pixelAccuracy(model, result.adversarial, labels), 0.5)
        XCTAssertGreaterThanOrEqual(try result.adversarial.min().item(), 0)
        XCTAssertLessThanOrEqual(try result.adversarial.max().item(), 1)
        // Each step moves some pixel by γ (before clipping) and none by more.
        XCTAssertLessThanOrEqual(try (result.adversarial - x).abs().max().item(), Float(result.losses.count) * DAG().gamma + 1e-5)
    }

    func testRespectsTheBudget() throws {
        let (model, x, labels) = try setup()
        var dag = DAG()
        dag.steps = 60
        dag.gamma = 2 / 255
        dag.eps = 16 / 255
        dag.recordUpdates = true
        let result = try dag.run(model: model, images: x, labels: labels)
        XCTAssertLessThanOrEqual(try (result.adversarial - x).abs().max().item(), 16 / 255 + 1e-6)
        XCTAssertLessThan(try pixelAccuracy(model, result.adversarial, labels), 0.75)
        // One update per iteration that had targets left, each at most γ.
        XCTAssertTrue([result.losses.count, result.losses.count - 1].contains(result.updates.count))
        for update in result.updates { XCTAssertLessThanOrEqual(try update.abs().max().item(), dag.gamma + 1e-6) }
    }

    /// With given adversarial labels and `targeted`, the targets are pushed to those labels.
    func testTargetedPushesPixelsToTheGivenLabels() throws {
        let (model, x, labels) = try setup()
        let goal = try Tensor(shape: labels.shape, storage: labels.storage.map { Float((Int($0) + 1) % 3) })
        var dag = DAG()
        dag.gamma = 2 / 255
        dag.targeted = true
        dag.adversarialLabels = .given(goal)
        let result = try dag.run(model: model, images: x, labels: labels)
        // No pixel starts at its goal; the attack moves a good share there.
        let reached = try AttackTask.segmentation.agreement(try withoutGrad { try model(result.adversarial) }, labels: goal)
        XCTAssertGreaterThan(reached.reduce(0, +) / Float(reached.count), 0.4)
    }

    /// Ignored targets are never attacked: with every pixel ignored there is nothing to do.
    func testIgnoreIndexAndShiftedLabels() throws {
        let (model, x, labels) = try setup()
        var dag = DAG()
        dag.steps = 5
        dag.adversarialLabels = .shifted(by: 1)
        dag.ignoreIndex = 255
        let ignored = try Tensor(shape: labels.shape, storage: [Float](repeating: 255, count: labels.count))
        let result = try dag.run(model: model, images: x, labels: ignored)
        XCTAssertEqual(result.adversarial.storage, x.storage, "nothing to attack")
        XCTAssertEqual(result.gradients, 0)
    }

    /// The iterative driver and APGD are task-generic: per-pixel losses and pixel-accuracy success.
    func testGradientAttacksWorkOnSegmentation() throws {
        let (model, x, labels) = try setup()
        let eps: Float = 16 / 255
        var attacks: [(String, () throws -> AttackResult)] = [
            ("pgd", { try GradientAttacks.pgd(eps: eps, step: 4 / 255, steps: 10, randomStart: false).run(model: model, task: .segmentation, images: x, labels: labels) }),
            ("smia", { try GradientAttacks.smia(eps: eps, step: 4 / 255, steps: 10).run(model: model, task: .segmentation, images: x, labels: labels) }),
        ]
        for loss in APGD.Loss.allCases {
            var apgd = APGD()
            apgd.eps = eps
            apgd.steps = 10
            apgd.loss = loss
            attacks.append(("apgd \(loss)", { try apgd.run(model: model, task: .segmentation, images: x, labels: labels) }))
        }
        for (name, attack) in attacks {
            let result = try attack()
            XCTAssertLessThanOrEqual(try (result.adversarial - x).abs().max().item(), eps + 1e-6, name)
            XCTAssertLessThan(try pixelAccuracy(model, result.adversarial, labels), 0.8, name)
        }
    }

    /// Any model with per-target scores plugs in: here a classifier as one target per image.
    func testAnyTargetScorerPlugsIn() throws {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        let scorer = OneTarget(model: model)
        var dag = DAG()
        dag.steps = 50
        let result = try dag.run(scorer: scorer, images: x, labels: try y.reshaped([8, 1]))
        let flipped = try AttackTask.classification.success(try withoutGrad { try model(result.adversarial) }, labels: y, targeted: false)
        XCTAssertEqual(flipped, [Bool](repeating: true, count: 8))
        XCTAssertEqual(scorer.calls.first, Array(0..<8))
        for call in scorer.calls {
            XCTAssertEqual(call, call.sorted())
            XCTAssertEqual(Set(call).count, call.count)
        }
        XCTAssertLessThan(scorer.calls.last?.count ?? 8, 8, "finished samples drop out")
    }

    func testRejectsBadInputs() throws {
        let (model, x, labels) = try setup()
        var dag = DAG()
        dag.steps = 2
        XCTAssertThrowsError(try dag.run(model: model, images: x, labels: try labels.reshaped([3, -1]))) {
            XCTAssertEqual(($0 as? TensorError)?.message, "dag: expected labels of size (N, H, W) for images 3x1x20x20, got 3x400")
        }
        let bad = try Tensor(shape: labels.shape, storage: labels.storage.map { _ in 5 })
        XCTAssertThrowsError(try dag.run(model: model, images: x, labels: bad)) {
            XCTAssertEqual(($0 as? TensorError)?.message, "dag: expected labels that are class indices in 0..2, got 5.0")
        }
        dag.adversarialLabels = .shifted(by: 3)
        XCTAssertThrowsError(try dag.run(model: model, images: x, labels: labels)) {
            XCTAssertEqual(($0 as? TensorError)?.message, "dag: a shift of 3 maps every class of 3 to itself")
        }
        dag.adversarialLabels = .shifted(by: Int.max)
        XCTAssertNoThrow(try dag.run(model: model, images: x, labels: labels), "a huge shift is reduced modulo K")
        dag.ignoreIndex = Int.max
        XCTAssertThrowsError(try dag.validate()) {
            XCTAssertEqual(($0 as? TensorError)?.message, "dag: ignore_index must be an integer below 2^24 in size, got \(Int.max)")
        }
        dag = DAG()
        dag.gamma = 0
        XCTAssertThrowsError(try dag.validate()) { XCTAssertEqual(($0 as? TensorError)?.message, "dag: gamma must be a finite number > 0, got 0.0") }
    }
}

/// A classifier's logits (N, K) as scores of one target, (N, K, 1); records which samples it saw.
private final class OneTarget: TargetScorer {
    let model: Module
    var calls: [[Int]] = []
    init(model: Module) { self.model = model }
    func scores(output logits: Tensor, samples: [Int]) throws -> Tensor {
        calls.append(samples)
        return try logits.reshaped([logits.shape[0], logits.shape[1], 1])
    }
}
