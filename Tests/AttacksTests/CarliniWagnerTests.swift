import Attacks
import Tensor
import TestSupport
import XCTest

final class CarliniWagnerTests: XCTestCase {
    let smallCNN = "smallcnn_c1_28x28_k10_s2", resnet = "resnet18_c3_64x64_k5_s1"

    func successes(_ model: Module, _ images: Tensor, _ labels: Tensor, targeted: Bool = false) throws -> [Bool] {
        try AttackTask.classification.success(try withoutGrad { try model(images) }, labels: labels, targeted: targeted)
    }

    /// C&W flips every prediction, with a smaller mean L2 than PGD-L2 needs to flip them all.
    /// The fixture small CNN has tiny logit margins (about 0.03), so it needs a large c: the
    /// binary search finds it from c = 1. ResNet-18 starts at c = 10, one round, to stay quick.
    func testFlipsEverySampleWithLessL2ThanPGDAtTheSameSuccess() throws {
        for (name, c, searchSteps) in [(smallCNN, Float(1), 3), (resnet, Float(10), 1)] {
            let (model, expected) = try Fixtures.model(name)
            let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
            var cw = CarliniWagner()
            cw.steps = 30
            cw.c = c
            cw.searchSteps = searchSteps
            let outcome = try cw.search(model: model, images: x, labels: y)
            let adversarial = outcome.result.adversarial
            XCTAssertEqual(outcome.success, [Bool](repeating: true, count: y.count), name)
            XCTAssertEqual(try successes(model, adversarial, y), [Bool](repeating: true, count: y.count), name)
            XCTAssertGreaterThanOrEqual(try adversarial.min().item(), 0)
            XCTAssertLessThanOrEqual(try adversarial.max().item(), 1)
            let norms = try (adversarial - x).normPerSample(p: 2).storage
            for (reported, measured) in zip(outcome.l2, norms) { XCTAssertEqual(reported, measured, accuracy: 1e-3 * Swift.max(1, measured)) }
            let cwMean = norms.reduce(0, +) / Float(norms.count)

            // The smallest PGD-L2 radius of a doubling grid that flips every sample.
            var pgdMean: Float?
            for eps: Float in [0.5, 1, 2, 4] {
                let pgd = GradientAttacks.pgd(eps: eps, step: eps / 4, steps: 10, randomStart: false, norm: .l2)
                let result = try pgd.run(model: model, task: .classification, images: x, labels: y)
                if try successes(model, result.adversarial, y).allSatisfy({ $0 }) {
                    pgdMean = try (result.adversarial - x).normPerSample(p: 2).mean().item()
                    break
                }
            }
            let matched = try XCTUnwrap(pgdMean, "\(name): PGD-L2 never flipped every sample")
            XCTAssertLessThan(cwMean, matched, name)
        }
    }

    /// A larger c weighs the misclassification term more: the final margin does not grow and
    /// no sample that succeeded stops succeeding.
    func testLargerConstantsNeverGiveALargerFinalMargin() throws {
        let (model, expected) = try Fixtures.model(smallCNN)
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        var previousMargin = Float.infinity, previousSuccesses = 0
        for c: Float in [1, 10, 100, 1000] {
            var cw = CarliniWagner()
            cw.steps = 20
            cw.c = c
            cw.abortEarly = false
            let outcome = try cw.search(model: model, images: x, labels: y)
            let margin = outcome.finalMargins.reduce(0, +) / Float(outcome.finalMargins.count)
            let count = outcome.success.filter { $0 }.count
            XCTAssertLessThanOrEqual(margin, previousMargin + 1e-4, "c = \(c)")
            XCTAssertGreaterThanOrEqual(count, previousSuccesses, "c = \(c)")
            (previousMargin, previousSuccesses) = (margin, count)
        }
        XCTAssertLessThan(previousMargin, 0, "c = 1000 crosses the boundary")
    }

    /// Later search rounds can only add successes and shrink each sample's best L2: the first
    /// rounds are the same computation.
    func testMoreSearchRoundsKeepEachSamplesBest() throws {
        let (model, expected) = try Fixtures.model(smallCNN)
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        var cw = CarliniWagner()
        cw.steps = 20
        cw.c = 5
        cw.searchSteps = 2
        let short = try cw.search(model: model, images: x, labels: y)
        cw.searchSteps = 5
        let long = try cw.search(model: model, images: x, labels: y)
        for i in 0..<y.count where short.success[i] {
            XCTAssertTrue(long.success[i], "sample \(i)")
            XCTAssertLessThanOrEqual(long.l2[i], short.l2[i] + 1e-6, "sample \(i)")
            XCTAssertLessThanOrEqual(long.constants[i], short.constants[i], "sample \(i)")
        }
        XCTAssertGreaterThan(long.success.filter { $0 }.count, 0)
        // A sample that never succeeds comes back clean.
        for i in 0..<y.count where !long.success[i] {
            XCTAssertEqual(try (long.result.adversarial - x).select(dim: 0, index: i).abs().max().item(), 0)
        }
    }

    func testTargetedReachesTheTargetAndKappaKeepsAMargin() throws {
        let (model, expected) = try Fixtures.model(smallCNN)
        let x = try XCTUnwrap(expected["x"]), y = try XCTUnwrap(expected["y"])
        let targets = try Tensor(shape: y.shape, storage: try rankedClasses(model, x).enumerated().map { Float($0.element[1 + $0.offset % 2]) })
        var cw = CarliniWagner()
        cw.steps = 40
        cw.c = 100
        cw.targeted = true
        cw.kappa = 0.02
        let outcome = try cw.search(model: model, images: x, labels: targets)
        XCTAssertGreaterThanOrEqual(outcome.success.filter { $0 }.count, 4)
        let logits = try withoutGrad { try model(outcome.result.adversarial) }
        for i in 0..<y.count where outcome.success[i] {
            let row = Array(logits.storage[(i * 10)..<((i + 1) * 10)])
            let t = Int(targets.storage[i])
            let others = row.enumerated().filter { $0.offset != t }.map(\.element).max() ?? 0
            XCTAssertGreaterThan(row[t] - others, cw.kappa - 1e-5, "sample \(i) reaches its target with margin kappa")
        }
    }

    func testRejectsBadOptionsAndInputs() throws {
        var cw = CarliniWagner()
        cw.steps = 0
        XCTAssertThrowsError(try cw.validate()) { XCTAssertEqual(($0 as? TensorError)?.message, "cw: steps must be at least 1, got 0") }
        cw = CarliniWagner()
        cw.c = -1
        XCTAssertThrowsError(try cw.validate()) { XCTAssertEqual(($0 as? TensorError)?.message, "cw: c must be a finite number > 0, got -1.0") }
        cw = CarliniWagner()
        cw.searchSteps = 0
        XCTAssertThrowsError(try cw.validate()) { XCTAssertEqual(($0 as? TensorError)?.message, "cw: search_steps must be at least 1, got 0") }
        cw = CarliniWagner()
        cw.kappa = -0.5
        XCTAssertThrowsError(try cw.validate()) { XCTAssertEqual(($0 as? TensorError)?.message, "cw: kappa must be a finite number >= 0, got -0.5") }

        let (model, expected) = try Fixtures.model(smallCNN)
        let x = try XCTUnwrap(expected["x"])
        cw = CarliniWagner()
        cw.steps = 1
        XCTAssertThrowsError(try cw.run(model: model, images: x, labels: try Tensor.zeros([8, 1]))) {
            XCTAssertEqual(($0 as? TensorError)?.message, "cw: expected labels of size 8 for model output 8x10, got 8x1")
        }
        XCTAssertThrowsError(try cw.run(model: model, images: try x * 2, labels: try XCTUnwrap(expected["y"]))) {
            XCTAssertTrue((($0 as? TensorError)?.message ?? "").hasPrefix("cw: expected images with values in [0.0, 1.0], got"))
        }
    }
}
