import Attacks
import Tensor
import TestSupport
import XCTest

/// The attacks against torchattacks / the reference SMIA on the fixtures' weights.
final class FixtureAttackTests: XCTestCase {
    let eps: Float = 8 / 255, step: Float = 2 / 255

    /// At least 99.9% of values within 1e-5 and the rest within `tolerance` (one step): sign
    /// gradients amplify rounding where a gradient is near zero.
    func assertReproduces(_ produced: Tensor, _ expected: Tensor, tolerance: Float, _ label: String) {
        XCTAssertEqual(produced.shape, expected.shape, label)
        let differences = zip(produced.storage, expected.storage).map { Swift.abs($0 - $1) }
        let close = differences.filter { $0 <= 1e-5 }.count
        XCTAssertGreaterThanOrEqual(Double(close) / Double(differences.count), 0.999, "\(label): \(differences.count - close) values differ")
        XCTAssertLessThanOrEqual(differences.max() ?? 0, tolerance + 1e-5, label)
    }

    func testFGSM() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let result = try GradientAttacks.fgsm(eps: eps).run(model: model, task: .classification, images: expected["x"]!, labels: expected["y"]!)
            assertReproduces(result.adversarial, expected["fgsm"]!, tolerance: 2 * eps, "fgsm \(name)")
        }
    }

    func testPGD() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let attack = GradientAttacks.pgd(eps: eps, step: step, steps: 5, randomStart: false)
            let result = try attack.run(model: model, task: .classification, images: expected["x"]!, labels: expected["y"]!)
            assertReproduces(result.adversarial, expected["pgd"]!, tolerance: step, "pgd \(name)")
        }
    }

    func testSMIA() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let result = try GradientAttacks.smia(eps: eps, step: step, steps: 5).run(model: model, task: .classification, images: expected["x"]!, labels: expected["y"]!)
            // SMIA's gradient is a difference of two terms, so more pixels sit near zero: on
            // ResNet-18, 9 of 49,152 values take the other sign at one iteration (measured),
            // which puts them one step the other way, 2 steps from the reference.
            assertReproduces(result.adversarial, expected["smia"]!, tolerance: 2 * step, "smia \(name)")
        }
    }

    /// The stabilization target's forward pass batched with the adversarial one gives the
    /// attack of two separate passes.
    func testSMIABatchedTargetEqualsSeparateForward() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let batched = GradientAttacks.smia(eps: eps, step: step, steps: 5)
            XCTAssertNotNil(batched.companion)
            var separate = batched
            separate.companion = nil
            let a = try batched.run(model: model, task: .classification, images: expected["x"]!, labels: expected["y"]!)
            let b = try separate.run(model: model, task: .classification, images: expected["x"]!, labels: expected["y"]!)
            assertReproduces(a.adversarial, b.adversarial, tolerance: 2 * step, "batched smia \(name)")
            XCTAssertEqual(a.forwards, b.forwards, name)
            for (la, lb) in zip(a.losses, b.losses) { XCTAssertEqual(la, lb, accuracy: 1e-4 * Swift.max(1, Swift.abs(lb)), name) }
        }
    }

    func testDEV() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let result = try GradientAttacks.dev(eps: eps, step: step, steps: 5).run(model: model, task: .classification, images: expected["x"]!, labels: expected["y"]!)
            assertReproduces(result.adversarial, expected["dev"]!, tolerance: step, "dev \(name)")
        }
    }

    func testDeepFoolFlipsEveryPredictionWithFixtureSizedPerturbations() throws {
        for name in Fixtures.names {
            let (model, expected) = try Fixtures.model(name)
            let x = expected["x"]!, y = expected["y"]!
            var attack = DeepFool()
            attack.steps = 20
            attack.overshoot = 0.02
            let result = try attack.run(model: model, images: x, labels: y)
            let predicted = try withoutGrad { try model(result.adversarial).argmax(dim: 1) }
            for i in 0..<y.count { XCTAssertNotEqual(predicted.storage[i], y.storage[i], "\(name) sample \(i)") }
            let ours = try (result.adversarial - x).normPerSample(p: 2).mean().item()
            let theirs = try (expected["deepfool"]! - x).normPerSample(p: 2).mean().item()
            XCTAssertLessThanOrEqual(ours, 1.1 * theirs, name)
        }
    }
}
