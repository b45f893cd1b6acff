import Attacks
import Foundation
import Tensor
import TestSupport
import XCTest

/// The iterative driver's options, each checked on a case where the expected result is known.
final class EngineTests: XCTestCase {
    // MARK: A tiny linear classifier, so gradients can be computed by hand.

    /// logits = W·vec(x) + b for 1×2×2 images, 3 classes.
    static let weights: [Float] = [0.9, -0.4, 0.3, 0.7,
                                   -0.6, 0.8, -0.2, 0.5,
                                   0.1, 0.3, 0.9, -0.8]
    static let bias: [Float] = [0.1, -0.2, 0.05]

    func linearModel() throws -> Module {
        let linear = try Linear(inFeatures: 4, outFeatures: 3)
        try linear.weight.assign(try Tensor(shape: [3, 4], storage: EngineTests.weights))
        try XCTUnwrap(linear.bias).assign(try Tensor(shape: [3], storage: EngineTests.bias))
        let model = Sequential([Flatten(), linear])
        model.eval()
        return model
    }

    /// Images in (0.3, 0.7), away from the range's edges.
    func linearImages(_ n: Int, seed: UInt64 = 3) throws -> Tensor {
        try Tensor.rand([n, 1, 2, 2], seed: seed) * 0.4 + 0.3
    }

    /// ∇ₓ of the mean cross-entropy of the linear model, by hand, in Double.
    func handGradient(_ x: [Float], labels: [Int]) -> [Double] {
        let n = labels.count
        var g = [Double](repeating: 0, count: n * 4)
        for i in 0..<n {
            var z = [Double](repeating: 0, count: 3)
            for c in 0..<3 {
                z[c] = Double(EngineTests.bias[c])
                for j in 0..<4 { z[c] += Double(EngineTests.weights[c * 4 + j]) * Double(x[i * 4 + j]) }
            }
            let m = z.max() ?? 0
            let e = z.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for c in 0..<3 {
                let coefficient = (e[c] / s - (c == labels[i] ? 1 : 0)) / Double(n)
                for j in 0..<4 { g[i * 4 + j] += coefficient * Double(EngineTests.weights[c * 4 + j]) }
            }
        }
        return g
    }

    func sign(_ v: Double) -> Double { v > 0 ? 1 : (v < 0 ? -1 : 0) }

    // MARK: Step rules

    func testMomentumRuleMatchesAHandComputedMIFGSM() throws {
        let model = try linearModel()
        let x = try linearImages(2)
        let labels = [0, 2]
        let eps: Float = 0.05, step: Float = 0.03, decay: Float = 0.8
        let result = try GradientAttacks.mifgsm(eps: eps, step: step, steps: 2, decay: decay)
            .run(model: model, task: .classification, images: x, labels: try Tensor(shape: [2], storage: labels.map(Float.init)))

        var current = x.storage.map(Double.init)
        var momentum = [Double](repeating: 0, count: 8)
        for _ in 0..<2 {
            let g = handGradient(current.map(Float.init), labels: labels)
            for i in 0..<2 {
                let meanAbs = g[(i * 4)..<(i * 4 + 4)].map { Swift.abs($0) }.reduce(0, +) / 4
                for j in (i * 4)..<(i * 4 + 4) {
                    momentum[j] = Double(decay) * momentum[j] + g[j] / meanAbs
                    let moved = current[j] + Double(step) * sign(momentum[j])
                    let projected = Swift.min(Swift.max(moved, Double(x.storage[j]) - Double(eps)), Double(x.storage[j]) + Double(eps))
                    current[j] = Swift.min(Swift.max(projected, 0), 1)
                }
            }
        }
        for (a, b) in zip(result.adversarial.storage, current) { XCTAssertEqual(Double(a), b, accuracy: 1e-6) }
        // The projection was active: the second step went past eps.
        XCTAssertEqual(try (result.adversarial - x).abs().max().item(), eps, accuracy: 1e-6)
    }

    func testAdamRuleMatchesAHandComputation() throws {
        let model = try linearModel()
        let x = try linearImages(2)
        let labels = [1, 0]
        let (b1, b2, epsilon): (Double, Double, Double) = (0.9, 0.999, 1e-8)
        let lr: Float = 0.01
        var attack = IterativeAttack(name: "adam", loss: GradientAttacks.taskLoss)
        attack.stepRule = .adam(beta1: Float(b1), beta2: Float(b2), epsilon: Float(epsilon))
        attack.projection = .none
        attack.steps = 3
        attack.stepSize = { _ in lr }
        let result = try attack.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [2], storage: labels.map(Float.init)))

        var current = x.storage.map(Double.init)
        var m = [Double](repeating: 0, count: 8), v = m
        for t in 1...3 {
            let g = handGradient(current.map(Float.init), labels: labels)
            for j in 0..<8 {
                m[j] = b1 * m[j] + (1 - b1) * g[j]
                v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                let mHat = m[j] / (1 - Foundation.pow(b1, Double(t))), vHat = v[j] / (1 - Foundation.pow(b2, Double(t)))
                current[j] = Swift.min(Swift.max(current[j] + Double(lr) * mHat / (vHat.squareRoot() + epsilon), 0), 1)
            }
        }
        for (a, b) in zip(result.adversarial.storage, current) { XCTAssertEqual(Double(a), b, accuracy: 1e-5) }
    }

    func testStepSizeFollowsTheIteration() throws {
        let model = try linearModel()
        let x = try linearImages(3)
        let sizes: [Float] = [0.01, 0.03, 0.005]
        var attack = IterativeAttack(name: "schedule", loss: GradientAttacks.taskLoss)
        attack.projection = .none
        attack.steps = 3
        attack.stepSize = { sizes[$0 - 1] }
        attack.recordUpdates = true
        let result = try attack.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [3], storage: [0, 1, 2]))
        XCTAssertEqual(result.updates.count, 3)
        for (update, size) in zip(result.updates, sizes) {
            for value in update.storage { XCTAssertEqual(Swift.abs(value), size, accuracy: 1e-6) }
        }
    }

    // MARK: Projections and random starts

    func testPerSampleEpsIsRespectedInLinfAndL2() throws {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        let radii: [Float] = [0, 1, 2, 4, 6, 8, 12, 16].map { $0 / 255 }
        var linf = GradientAttacks.pgd(eps: 1, step: 2 / 255, steps: 4)
        linf.perSampleEps = try Tensor(shape: [8], storage: radii)
        let a = try linf.run(model: model, task: .classification, images: x, labels: y)
        let linfNorms = try (a.adversarial - x).normPerSample(p: .infinity).storage
        for (norm, radius) in zip(linfNorms, radii) {
            XCTAssertLessThanOrEqual(norm, radius + 1e-6)
            XCTAssertGreaterThanOrEqual(norm, 0.9 * radius, "the budget is used")
        }

        let l2Radii: [Float] = [0, 0.1, 0.2, 0.3, 0.5, 0.8, 1, 2]
        var l2 = GradientAttacks.pgd(eps: 1, step: 0.5, steps: 4, norm: .l2)
        l2.perSampleEps = try Tensor(shape: [8], storage: l2Radii)
        let b = try l2.run(model: model, task: .classification, images: x, labels: y)
        let l2Norms = try (b.adversarial - x).normPerSample(p: 2).storage
        for (norm, radius) in zip(l2Norms, l2Radii) {
            XCTAssertLessThanOrEqual(norm, radius * (1 + 1e-5) + 1e-6)
            XCTAssertGreaterThanOrEqual(norm, 0.5 * radius, "the budget is used")
        }
    }

    func testL2ProjectionKeepsNormsWithinEps() throws {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        // Steps far larger than the ball: every iterate is projected.
        let eps: Float = 0.7
        let result = try GradientAttacks.pgd(eps: eps, step: 3, steps: 3, norm: .l2).run(model: model, task: .classification, images: x, labels: y)
        for norm in try (result.adversarial - x).normPerSample(p: 2).storage {
            XCTAssertLessThanOrEqual(norm, eps * (1 + 1e-5))
        }
        XCTAssertGreaterThanOrEqual(try result.adversarial.min().item(), 0)
        XCTAssertLessThanOrEqual(try result.adversarial.max().item(), 1)
    }

    /// With a zero step size the result is the random start itself.
    func randomStart(_ projection: Projection, eps: Float, seed: UInt64) throws -> (Tensor, Tensor) {
        let model = try linearModel()
        let x = try linearImages(4)
        var attack = IterativeAttack(name: "start", loss: GradientAttacks.taskLoss)
        attack.projection = projection
        attack.stepRule = projection == .l2 ? .l2 : .sign
        attack.eps = eps
        attack.steps = 1
        attack.stepSize = { _ in 0 }
        attack.randomStart = true
        attack.seed = seed
        return (x, try attack.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [4], storage: [0, 1, 2, 0])).adversarial)
    }

    func testRandomStartStaysInTheBallAndDependsOnTheSeed() throws {
        for (projection, p, eps) in [(Projection.linf, Float.infinity, Float(0.1)), (.l2, 2, 0.15)] {
            let (x, a) = try randomStart(projection, eps: eps, seed: 1)
            let (_, again) = try randomStart(projection, eps: eps, seed: 1)
            let (_, other) = try randomStart(projection, eps: eps, seed: 2)
            for norm in try (a - x).normPerSample(p: p).storage {
                XCTAssertLessThanOrEqual(norm, eps * (1 + 1e-5), "\(projection)")
                XCTAssertGreaterThan(norm, 0, "\(projection)")
            }
            XCTAssertGreaterThanOrEqual(try a.min().item(), 0)
            XCTAssertLessThanOrEqual(try a.max().item(), 1)
            XCTAssertEqual(a.storage, again.storage, "\(projection): same seed, same start")
            XCTAssertGreaterThan(try (a - other).abs().max().item(), 1e-3, "\(projection): another seed, another start")
        }
    }

    // MARK: Masks, early stop, restarts, targets

    func testMaskKeepsMaskedPixelsUnchangedEvenWithARandomStart() throws {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        // Only the left half of every image may change.
        let maskValues = (0..<(28 * 28)).map { Float($0 % 28 < 14 ? 1 : 0) }
        var attack = GradientAttacks.pgd(eps: 8 / 255, step: 2 / 255, steps: 3, randomStart: true)
        attack.mask = try Tensor(shape: [1, 1, 28, 28], storage: maskValues)
        let result = try attack.run(model: model, task: .classification, images: x, labels: y)
        var changedInside = 0
        for i in 0..<x.count {
            if maskValues[i % (28 * 28)] == 0 {
                XCTAssertEqual(result.adversarial.storage[i], x.storage[i], "masked value \(i)")
            } else if result.adversarial.storage[i] != x.storage[i] {
                changedInside += 1
            }
        }
        XCTAssertGreaterThan(changedInside, x.count / 4)
    }

    func testEarlyStopFreezesSamplesOnceTheySucceed() throws {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        var images: [Tensor] = [x]
        var attack = GradientAttacks.bim(eps: 16 / 255, step: 1 / 255, steps: 16)
        attack.earlyStop = true
        attack.onStep = { _, current, _ in images.append(current); return true }
        let result = try attack.run(model: model, task: .classification, images: x, labels: y)
        let n = x.shape[0], size = x.count / n
        var frozenEarly = 0, movedAfterAnotherFroze = false
        var firstSuccess = [Int?](repeating: nil, count: n)
        for (t, image) in images.enumerated() {
            let success = try AttackTask.classification.success(try withoutGrad { try model(image) }, labels: y, targeted: false)
            for i in 0..<n where success[i] && firstSuccess[i] == nil { firstSuccess[i] = t }
        }
        for i in 0..<n {
            guard let t = firstSuccess[i] else { continue }
            let frozen = Array(images[t].storage[(i * size)..<((i + 1) * size)])
            for later in images[t...] { XCTAssertEqual(Array(later.storage[(i * size)..<((i + 1) * size)]), frozen, "sample \(i) moved after succeeding at \(t)") }
            XCTAssertEqual(Array(result.adversarial.storage[(i * size)..<((i + 1) * size)]), frozen)
            if t < images.count - 1 { frozenEarly += 1 }
        }
        // Meaningful only if some sample froze while another was still moving.
        for i in 0..<n {
            for j in 0..<n where i != j {
                guard let ti = firstSuccess[i], ti + 1 < images.count else { continue }
                let end = firstSuccess[j] ?? images.count - 1
                if end > ti + 1, images[ti + 1].storage[(j * size)..<((j + 1) * size)] != images[ti].storage[(j * size)..<((j + 1) * size)] {
                    movedAfterAnotherFroze = true
                }
            }
        }
        XCTAssertGreaterThan(frozenEarly, 0)
        XCTAssertTrue(movedAfterAnotherFroze)
    }

    func testRestartsKeepEachSamplesBestRun() throws {
        let model = try linearModel()
        let x = try linearImages(6, seed: 5)
        let labels = try Tensor(shape: [6], storage: [0, 1, 2, 0, 1, 2])
        // Zero steps: each run ends at its random start, so the best is a pick among starts.
        func attack(restarts: Int, seed: UInt64) -> IterativeAttack {
            var a = IterativeAttack(name: "restarts", loss: GradientAttacks.taskLoss)
            a.eps = 0.3
            a.steps = 1
            a.stepSize = { _ in 0 }
            a.randomStart = true
            a.restarts = restarts
            a.seed = seed
            return a
        }
        let combined = try attack(restarts: 4, seed: 20).run(model: model, task: .classification, images: x, labels: labels).adversarial
        let runs = try (0..<4).map { try attack(restarts: 1, seed: 20 + UInt64($0)).run(model: model, task: .classification, images: x, labels: labels).adversarial }
        var chosen: [Int] = []
        for i in 0..<6 {
            // Success first, then the loss, first run on ties.
            var bestRun = 0, bestScore = -Float.infinity
            for (r, run) in runs.enumerated() {
                let sample = try run.slice(dim: 0, start: i, end: i + 1)
                let output = try withoutGrad { try model(sample) }
                let label = try labels.slice(dim: 0, start: i, end: i + 1)
                let success = try AttackTask.classification.success(output, labels: label, targeted: false)[0]
                let score = success ? Float.infinity : try Tensor.crossEntropy(output, label).item()
                if score > bestScore { (bestRun, bestScore) = (r, score) }
            }
            chosen.append(bestRun)
            XCTAssertEqual(Array(combined.storage[(i * 4)..<((i + 1) * 4)]), Array(runs[bestRun].storage[(i * 4)..<((i + 1) * 4)]), "sample \(i)")
        }
        XCTAssertGreaterThan(Set(chosen).count, 1, "the case must take samples from different runs")
    }

    func testTargetedModeMovesTowardTheTarget() throws {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        // The fixture CNN is barely trained (one class everywhere, close logits): aim at the
        // second- and third-ranked classes, which a small budget can reach.
        let targets = try Tensor(shape: y.shape, storage: try rankedClasses(model, x).enumerated().map { Float($0.element[1 + $0.offset % 2]) })
        var attack = GradientAttacks.pgd(eps: 16 / 255, step: 2 / 255, steps: 10, randomStart: false)
        attack.targeted = true
        let result = try attack.run(model: model, task: .classification, images: x, labels: targets)
        let before = try withoutGrad { try model(x).softmax(dim: 1) }
        let after = try withoutGrad { try model(result.adversarial) }
        let probabilities = try after.softmax(dim: 1)
        for i in 0..<8 {
            let t = Int(targets.storage[i])
            XCTAssertGreaterThan(probabilities.storage[i * 10 + t], before.storage[i * 10 + t], "sample \(i)")
        }
        let reached = try AttackTask.classification.success(after, labels: targets, targeted: true).filter { $0 }.count
        XCTAssertGreaterThanOrEqual(reached, 4)
    }

    func testOnStepCanStopTheRun() throws {
        let model = try linearModel()
        var calls: [Int] = []
        var attack = GradientAttacks.pgd(eps: 0.1, step: 0.01, steps: 10, randomStart: false)
        attack.onStep = { iteration, _, _ in calls.append(iteration); return iteration < 3 }
        let result = try attack.run(model: model, task: .classification, images: try linearImages(2), labels: try Tensor(shape: [2], storage: [0, 1]))
        XCTAssertEqual(calls, [1, 2, 3])
        XCTAssertEqual(result.losses.count, 3)
    }

    // MARK: Errors

    func assertError(_ expression: @autoclosure () throws -> Any, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            let message = (error as? TensorError)?.message ?? "not a TensorError: \(error)"
            XCTAssertTrue(message.contains(text), "\"\(message)\" does not contain \"\(text)\"", file: file, line: line)
        }
    }

    func testValidateRejectsBadOptions() throws {
        var a = GradientAttacks.pgd(eps: 0.1, step: 0.01, steps: 0)
        assertError(try a.validate(), contains: "pgd: steps must be at least 1, got 0")
        a = GradientAttacks.pgd(eps: -0.1, step: 0.01, steps: 3)
        assertError(try a.validate(), contains: "pgd: eps must be a finite number >= 0, got -0.1")
        a = GradientAttacks.pgd(eps: 0.1, step: 0.01, steps: 3)
        a.restarts = 0
        assertError(try a.validate(), contains: "pgd: restarts must be at least 1, got 0")
        a.restarts = 1
        XCTAssertNoThrow(try a.validate())

        let model = try linearModel()
        let x = try linearImages(2), y = try Tensor(shape: [2], storage: [0, 1])
        a.perSampleEps = try Tensor(shape: [2], storage: [0.1, -1])
        assertError(try a.run(model: model, task: .classification, images: x, labels: y), contains: "pgd: per-sample eps must be finite numbers >= 0, got -1")
        a.perSampleEps = try Tensor(shape: [3], storage: [0.1, 0.1, 0.1])
        assertError(try a.run(model: model, task: .classification, images: x, labels: y), contains: "pgd: expected per-sample eps of size 2, got 3")
        a.perSampleEps = nil
        a.stepSize = { _ in .nan }
        assertError(try a.run(model: model, task: .classification, images: x, labels: y), contains: "pgd: the step size must be a finite number, got nan at iteration 1")
    }

    func testBadLabelsAndModelsGiveClearMessages() throws {
        let model = try linearModel()
        let x = try linearImages(2)
        let pgd = GradientAttacks.pgd(eps: 0.1, step: 0.01, steps: 2)
        assertError(try pgd.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [2, 1], storage: [0, 1])),
                    contains: "pgd: expected labels of size 2 for model output 2x3, got 2x1")
        assertError(try pgd.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [3], storage: [0, 1, 2])),
                    contains: "pgd: expected labels of size 2 for model output 2x3, got 3")
        assertError(try pgd.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [2], storage: [0, 7])),
                    contains: "pgd: expected labels that are class indices in 0..2 for a model with 3 classes, got 7.0")
        assertError(try pgd.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [2], storage: [0, .nan])),
                    contains: "pgd: expected labels that are class indices in 0..2 for a model with 3 classes, got nan")
        // A segmenter where a classifier is expected, and the other way round.
        ParameterInit.seed(1)
        let segmenter = try Conv2d(inChannels: 1, outChannels: 3, kernelSize: (1, 1))
        assertError(try pgd.run(model: segmenter, task: .classification, images: x, labels: try Tensor(shape: [2], storage: [0, 1])),
                    contains: "pgd: a classifier must output (N, K) logits, got size 2x3x2x2")
        assertError(try pgd.run(model: model, task: .segmentation, images: x, labels: try Tensor(shape: [2, 2, 2], storage: [Float](repeating: 0, count: 8))),
                    contains: "pgd: a segmenter must output (N, K, H, W) logits, got size 2x3")
        assertError(try pgd.run(model: model, task: .classification, images: try Tensor.zeros([4]), labels: try Tensor(shape: [2], storage: [0, 1])),
                    contains: "pgd: expected images of size (N, C, H, W) with N >= 1, got 4")
    }
}

/// Each sample's classes from the highest logit down.
func rankedClasses(_ model: Module, _ images: Tensor) throws -> [[Int]] {
    let logits = try withoutGrad { try model(images) }
    let k = logits.shape[1]
    return (0..<logits.shape[0]).map { i in
        (0..<k).sorted { logits.storage[i * k + $0] > logits.storage[i * k + $1] }
    }
}
