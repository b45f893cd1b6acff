import Attacks
import Tensor
import XCTest

final class PerturbationMetricsTests: XCTestCase {
    func testNormsOnAHandMadePerturbation() throws {
        let clean = try Tensor.zeros([2, 1, 1, 4])
        let adversarial = try Tensor(shape: [2, 1, 1, 4], storage: [0.3, -0.4, 0, 0, 0.1, 0.1, 0.1, 0.1])
        let n = try PerturbationMetrics.norms(clean: clean, adversarial: adversarial)
        XCTAssertEqual(n.linf, (0.4 + 0.1) / 2, accuracy: 1e-6)
        XCTAssertEqual(n.l2, (0.5 + 0.2) / 2, accuracy: 1e-6)
        XCTAssertEqual(n.l0, (2 + 4) / 2, accuracy: 1e-6)
    }

    func testVarianceIsPerImageThenAveraged() throws {
        let clean = try Tensor.zeros([2, 1, 1, 4])
        // Image 1: values 1, 3, 1, 3 -> variance 1. Image 2: all 5 -> variance 0.
        let adversarial = try Tensor(shape: [2, 1, 1, 4], storage: [1, 3, 1, 3, 5, 5, 5, 5])
        XCTAssertEqual(try PerturbationMetrics.variance(clean: clean, adversarial: adversarial), 0.5, accuracy: 1e-6)
    }

    func testConsistencyOfConsecutiveUpdates() throws {
        let a = try Tensor(shape: [1, 1, 1, 2], storage: [1, 0])
        let b = try Tensor(shape: [1, 1, 1, 2], storage: [1, 1])
        // cos(a, a) = 1, cos(a, -a) = -1, cos(-a, b) = -1/sqrt(2).
        let c = try XCTUnwrap(PerturbationMetrics.consistency(updates: [a, a, -a, b]))
        XCTAssertEqual(c.mean, (1 - 1 - 1 / Float(2).squareRoot()) / 3, accuracy: 1e-6)
        XCTAssertEqual(c.positive, 1 / 3, accuracy: 1e-6)
        XCTAssertNil(try PerturbationMetrics.consistency(updates: [a]))
    }

    func testPSNROfAKnownError() throws {
        let clean = try Tensor.zeros([1, 1, 2, 2])
        let adversarial = try Tensor.full([1, 1, 2, 2], 0.1)  // MSE 0.01 -> 20 dB
        XCTAssertEqual(try PerturbationMetrics.psnr(clean: clean, adversarial: adversarial), 20, accuracy: 1e-4)
        XCTAssertEqual(try PerturbationMetrics.psnr(clean: clean, adversarial: clean), 100)
    }

    func testSSIMIsOneForIdenticalImagesAndLowerWithNoise() throws {
        let x = try Tensor.rand([2, 3, 24, 24], seed: 1)
        XCTAssertEqual(try PerturbationMetrics.ssim(clean: x, adversarial: x), 1, accuracy: 1e-5)
        let noisy = try (x + Tensor.randn(x.shape, seed: 2) * 0.1).clamp(min: 0, max: 1)
        let s = try PerturbationMetrics.ssim(clean: x, adversarial: noisy)
        XCTAssertLessThan(s, 0.99)
        XCTAssertGreaterThan(s, 0)
        XCTAssertThrowsError(try PerturbationMetrics.ssim(clean: try Tensor.zeros([1, 1, 8, 8]), adversarial: try Tensor.zeros([1, 1, 8, 8])))
    }
}
