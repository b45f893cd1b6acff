import Attacks
import Tensor
import TestSupport
import XCTest

/// The figures of a run (`AttackReport`) and DAG's normalized step rule (`StepRule.linf`).
final class AttackReportTests: XCTestCase {
    /// logits = W·vec(x) for 1×1×2 images, 2 classes: class 0 scores x₁ − x₂, class 1 the opposite.
    func differenceModel() throws -> Module {
        let linear = try Linear(inFeatures: 2, outFeatures: 2, bias: false)
        try linear.weight.assign(try Tensor(shape: [2, 2], storage: [1, -1, -1, 1]))
        let model = Sequential([Flatten(), linear])
        model.eval()
        return model
    }

    func testLinfRuleStepsAlongTheGradientOverItsLargestValue() throws {
        let model = try differenceModel()
        // The loss is the class-1 logit, gradient (−1, 1)·3 for the first image, 0 for the second.
        var attack = IterativeAttack(name: "linf", loss: { context in
            try (context.output * Tensor(shape: [1, 2], storage: [0, 1]) * Tensor(shape: [2, 1], storage: [3, 0])).sum()
        })
        attack.stepRule = .linf
        attack.projection = .none
        attack.steps = 2
        attack.stepSize = { _ in 0.1 }
        let x = try Tensor(shape: [2, 1, 1, 2], storage: [0.5, 0.5, 0.4, 0.6])
        let result = try attack.run(model: model, task: .classification, images: x, labels: try Tensor(shape: [2], storage: [0, 0]))
        let expected: [Float] = [0.3, 0.7, 0.4, 0.6]
        for (a, b) in zip(result.adversarial.storage, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testReportCountsSuccessAccuracyNormsAndWork() throws {
        let model = try differenceModel()
        let clean = try Tensor(shape: [2, 1, 1, 2], storage: [0.6, 0.4, 0.6, 0.4])
        // The first image flips to class 1; the second moves but stays class 0.
        let adversarial = try Tensor(shape: [2, 1, 1, 2], storage: [0.4, 0.6, 0.55, 0.45])
        let labels = try Tensor(shape: [2], storage: [0, 0])
        let updates = [try adversarial - clean, try (adversarial - clean) * 0.5]
        let result = AttackResult(adversarial: adversarial, updates: updates, losses: [1, 2], forwards: 6, gradients: 4, seconds: 0.5)
        let cleanOutput = try model(clean)
        let report = try AttackReport(model: model, task: .classification, clean: clean, cleanOutput: cleanOutput,
                                      labels: labels, targets: nil, result: result)
        XCTAssertEqual(report.success, [true, false])
        XCTAssertEqual(report.cleanAgreement, [1, 1])
        XCTAssertEqual(report.agreement, [0, 1])
        XCTAssertEqual(report.successRate, 0.5)
        XCTAssertEqual(report.accuracy, 0.5)
        XCTAssertEqual(report.linf[0], 0.2, accuracy: 1e-6)
        XCTAssertEqual(report.linf[1], 0.05, accuracy: 1e-6)
        XCTAssertEqual(report.l2[0], 0.2 * Float(2).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(report.l0, 2)
        XCTAssertEqual(report.variance, (0.04 + 0.0025) / 2, accuracy: 1e-6)
        let consistency = try XCTUnwrap(report.consistency)
        XCTAssertEqual(consistency.mean, 1, accuracy: 1e-6)
        XCTAssertEqual(consistency.positive, 1)
        XCTAssertNil(report.ssim, "2-pixel images are smaller than SSIM's window")
        XCTAssertEqual(report.forwards, 6)
        XCTAssertEqual(report.gradients, 4)

        // Targeted at class 1: success is reaching it; accuracy still against the ground truth.
        let targeted = try AttackReport(model: model, task: .classification, clean: clean, cleanOutput: cleanOutput, labels: labels,
                                        targets: try Tensor(shape: [2], storage: [1, 1]), result: result)
        XCTAssertEqual(targeted.success, [true, false])
        XCTAssertEqual(targeted.accuracy, 0.5)
    }

    /// success_rate counts only the images the model got right before the attack (torchattacks'
    /// and ART's convention): an image already wrong is not a success of the attack.
    func testSuccessRateCountsTheImagesRightBeforeTheAttack() throws {
        let model = try differenceModel()
        let clean = try Tensor(shape: [3, 1, 1, 2], storage: [0.6, 0.4, 0.6, 0.4, 0.4, 0.6])
        // Image 1 flips, image 2 holds, image 3 was class 1 (wrong) from the start and stays so.
        let adversarial = try Tensor(shape: [3, 1, 1, 2], storage: [0.4, 0.6, 0.55, 0.45, 0.4, 0.6])
        let labels = try Tensor(shape: [3], storage: [0, 0, 0])
        let result = AttackResult(adversarial: adversarial, updates: [], losses: [], forwards: 3, gradients: 3, seconds: 0)
        let report = try AttackReport(model: model, task: .classification, clean: clean, cleanOutput: try model(clean),
                                      labels: labels, targets: nil, result: result)
        XCTAssertEqual(report.success, [true, false, true])
        XCTAssertEqual(report.cleanCorrect, [true, true, false])
        XCTAssertEqual(report.cleanCorrectCount, 2)
        XCTAssertEqual(report.successRate, 0.5, "1 of the 2 images right before, not 2 of 3")
        XCTAssertEqual(report.accuracy, 1 / 3, accuracy: 1e-6)
        // Nothing right before: no rate.
        let none = try AttackReport(model: model, task: .classification, clean: clean, cleanOutput: try model(clean),
                                    labels: try Tensor(shape: [3], storage: [1, 1, 0]), targets: nil, result: result)
        XCTAssertEqual(none.cleanCorrectCount, 0)
        XCTAssertNil(none.successRate)
    }
}
