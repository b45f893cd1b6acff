import Attacks
import Tensor
import TestSupport
import XCTest

/// The outputs an attack hands back from its own passes (`AttackResult.cleanOutput` and
/// `adversarialOutput`, which spare its caller a clean pass and a scoring pass) are the model's
/// on the clean images and on the result.
final class AttackOutputsTests: XCTestCase {
    /// Same size, and within rounding of a pass of its own (a batch of another size, or a
    /// recorded pass, may round differently).
    func assertModelOutput(_ given: Tensor?, _ model: Module, _ images: Tensor, _ what: String) throws {
        let output = try XCTUnwrap(given, what)
        let own = try withoutGrad { try model(images) }
        XCTAssertEqual(output.shape, own.shape, what)
        XCTAssertLessThanOrEqual(maxScaledDifference(output, own), 1e-5, what)
    }

    func classifier() throws -> (Module, Tensor, Tensor) {
        let (model, expected) = try Fixtures.model("smallcnn_c1_28x28_k10_s2")
        return (model, try XCTUnwrap(expected["x"]), try XCTUnwrap(expected["y"]))
    }

    func testARandomStartScoresTheCleanImagesWithItsResult() throws {
        let (model, x, y) = try classifier()
        let n = x.shape[0]
        for restarts in [1, 3] {
            var pgd = GradientAttacks.pgd(eps: 8 / 255, step: 2 / 255, steps: 3)
            pgd.restarts = restarts
            pgd.scoresCleanImages = true
            let result = try pgd.run(model: model, task: .classification, images: x, labels: y)
            try assertModelOutput(result.cleanOutput, model, x, "pgd, \(restarts) restarts: clean")
            try assertModelOutput(result.adversarialOutput, model, result.adversarial, "pgd, \(restarts) restarts: result")
            XCTAssertEqual(result.forwards, restarts * (3 * n + n), "the clean images are not the attack's own work")
            pgd.scoresCleanImages = false
            XCTAssertNil(try pgd.run(model: model, task: .classification, images: x, labels: y).cleanOutput)
        }
    }

    func testAPGDKeepsTheOutputOfItsBestIterates() throws {
        let (model, x, y) = try classifier()
        for restarts in [1, 2] {
            var apgd = APGD()
            apgd.steps = 6
            apgd.eps = 4 / 255
            apgd.restarts = restarts
            apgd.scoresCleanImages = true
            let result = try apgd.run(model: model, task: .classification, images: x, labels: y)
            try assertModelOutput(result.cleanOutput, model, x, "apgd, \(restarts) restarts: clean")
            try assertModelOutput(result.adversarialOutput, model, result.adversarial, "apgd, \(restarts) restarts: result")
        }
    }

    func testAttacksFromTheCleanImagesReturnTheirFirstPass() throws {
        let (model, x, y) = try classifier()
        var deepfool = DeepFool()
        deepfool.steps = 5
        try assertModelOutput(try deepfool.run(model: model, images: x, labels: y).cleanOutput, model, x, "deepfool")

        ParameterInit.seed(3)
        let segmenter = Sequential([try Conv2d(inChannels: 1, outChannels: 4, kernelSize: (3, 3), padding: (1, 1)), ReLU(),
                                    try Conv2d(inChannels: 4, outChannels: 3, kernelSize: (3, 3), padding: (1, 1))])
        segmenter.eval()
        let labels = try withoutGrad { try segmenter(x).argmax(dim: 1) }
        var dag = DAG()
        dag.steps = 5
        try assertModelOutput(try dag.run(model: segmenter, images: x, labels: labels).cleanOutput, segmenter, x, "dag")

        let detector = try DetectionAttackTests.detector()
        let (squares, boxes) = try DetectionAttackTests.squares(count: 4, seed: 21)
        let result = try dag.run(detector: detector, images: squares, labels: try DetectionLabels.tensor(boxes))
        try assertModelOutput(result.cleanOutput, detector, squares, "dag on a detector")
        // The pass the targets come from is the first iteration's: one per iteration at most.
        XCTAssertLessThanOrEqual(result.forwards, squares.shape[0] * result.losses.count)
    }
}
