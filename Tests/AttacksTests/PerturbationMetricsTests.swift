import Foundation
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

    /// The one-pass statistics against the tensor operations that define them, on a sign-step
    /// perturbation that leaves some values unchanged and a mean far from zero in one image.
    func testStatisticsMatchTheTensorDefinitions() throws {
        let clean = try Tensor.rand([3, 2, 5, 7], seed: 3)
        let step = try Tensor.randn(clean.shape, seed: 4).compare(Tensor(scalar: 0.3), "gt") * (8.0 / 255)
        let adversarial = try (clean + step).clamp(min: 0, max: 1)
        let s = try PerturbationStatistics(clean: clean, adversarial: adversarial)
        let eta = try (adversarial - clean).flattened(from: 1)
        let values = Float(eta.shape[1])
        // Float32 sums of at most 70 values: relative rounding below 1e-5.
        for (ours, theirs) in [(s.linf, try eta.abs().max(dim: 1).values.storage),
                               (s.l2, try (eta * eta).sum(dim: 1).sqrt().storage),
                               (s.l0, try eta.abs().compare(Tensor(scalar: 1e-7), "gt").sum(dim: 1).storage),
                               (s.variance, try eta.variance(dim: 1, unbiased: false).storage)] {
            for (a, b) in zip(ours, theirs) { XCTAssertEqual(a, b, accuracy: 1e-5 * Swift.max(1, Swift.abs(b))) }
        }
        let mse = try (eta * eta).sum(dim: 1).storage.map { $0 / values }
        for (a, m) in zip(s.psnr, mse) { XCTAssertEqual(a, 10 * log10(1 / m), accuracy: 1e-3) }
        XCTAssertThrowsError(try PerturbationStatistics(clean: clean, adversarial: try Tensor.zeros([3, 2, 5, 6])))
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

    /// Against the textbook definition computed here in double precision, window by window:
    /// the 11x11 Gaussian (sigma 1.5) weighted means, variances and covariance at every position
    /// where the window fits, then the SSIM map averaged over channels and positions. The widths
    /// give rows of fewer than 8 positions where the window fits (5), of whole 8s (16) and of
    /// whole 8s and a rest (13, 21, 35), which the kernel takes in different ways.
    ///
    /// Noise of 0.05 leaves SSIM about 0.98; an attack's ±0.5/255 (the fundus budget) leaves
    /// 1 - SSIM about 2e-5, where the variances come from differences of nearly equal moments in
    /// float32: there SSIM must still be within 1% of 1 - SSIM.
    func testSSIMMatchesTheDirectDefinition() throws {
        for shape in [[2, 2, 19, 23], [1, 1, 14, 15], [1, 2, 12, 26], [1, 1, 20, 31]] {
            let x = try Tensor.rand(shape, seed: 5)
            try checkSSIMAgainstTheDirectDefinition(x, try (x + Tensor.randn(x.shape, seed: 6) * 0.05).clamp(min: 0, max: 1),
                                                    accuracy: 1e-5)
        }
        let x = try Tensor.rand([2, 3, 40, 45], seed: 7)
        let signs = try (Tensor.rand(x.shape, seed: 8) - 0.5).sign()
        try checkSSIMAgainstTheDirectDefinition(x, try (x + signs * (0.5 / 255)).clamp(min: 0, max: 1), accuracy: 2e-7)
    }

    private func checkSSIMAgainstTheDirectDefinition(_ x: Tensor, _ y: Tensor, accuracy: Double) throws {
        let ours = try PerturbationMetrics.ssimPerImage(clean: x, adversarial: y)
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let size = 11, sigma = 1.5
        var kernel = [Double](repeating: 0, count: size * size)
        for i in 0..<size {
            for j in 0..<size {
                let di = Double(i - size / 2), dj = Double(j - size / 2)
                kernel[i * size + j] = Foundation.exp(-(di * di + dj * dj) / (2 * sigma * sigma))
            }
        }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let c1 = 0.01 * 0.01, c2 = 0.03 * 0.03
        for image in 0..<n {
            var sum = 0.0, positions = 0
            for channel in 0..<c {
                let base = (image * c + channel) * h * w
                for i in 0...(h - size) {
                    for j in 0...(w - size) {
                        var mx = 0.0, my = 0.0, xx = 0.0, yy = 0.0, xy = 0.0
                        for a in 0..<size {
                            for b in 0..<size {
                                let k = kernel[a * size + b]
                                let u = Double(x.storage[base + (i + a) * w + j + b])
                                let v = Double(y.storage[base + (i + a) * w + j + b])
                                mx += k * u; my += k * v; xx += k * u * u; yy += k * v * v; xy += k * u * v
                            }
                        }
                        let sxx = xx - mx * mx, syy = yy - my * my, sxy = xy - mx * my
                        sum += (2 * mx * my + c1) * (2 * sxy + c2) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
                        positions += 1
                    }
                }
            }
            // Measured: within 5e-8 in both cases.
            XCTAssertEqual(Double(ours[image]), sum / Double(positions), accuracy: accuracy, "image \(image) of \(x.shape)")
        }
    }
}
