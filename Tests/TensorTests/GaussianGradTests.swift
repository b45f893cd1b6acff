import Foundation
import Tensor
import XCTest

/// The Gaussian kernel and the per-channel (separable) blur.
final class GaussianGradTests: XCTestCase {
    func testKernel() throws {
        for (size, sigma) in [(1, Float(1)), (3, 1), (5, 0.8), (7, 2.5), (9, 0.3)] {
            let k = try Tensor.gaussianKernel(size: size, sigma: sigma)
            XCTAssertEqual(k.shape, [size, size])
            XCTAssertEqual(k.sum().storage[0], 1, accuracy: 1e-6, "size \(size) sums to 1")
            for i in 0..<size {
                for j in 0..<size {
                    let v = k.storage[i * size + j]
                    XCTAssertEqual(v, k.storage[j * size + i], "size \(size): symmetric under transposition")
                    XCTAssertEqual(v, k.storage[(size - 1 - i) * size + j], "size \(size): symmetric top-bottom")
                    XCTAssertEqual(v, k.storage[i * size + size - 1 - j], "size \(size): symmetric left-right")
                    XCTAssertLessThanOrEqual(v, k.storage[(size / 2) * size + size / 2], "size \(size): peak at the center")
                }
            }
        }
        // exp(-d^2 / (2 sigma^2)), normalized: 3x3, sigma 1.
        let k = try Tensor.gaussianKernel(size: 3, sigma: 1)
        let e1 = exp(-0.5), e2 = exp(-1.0)
        let total = 1 + 4 * e1 + 4 * e2
        assertValues(k, [3, 3], [e2, e1, e2, e1, 1, e1, e2, e1, e2].map { Float($0 / total) }, accuracy: 1e-6, "3x3 sigma 1")
        XCTAssertThrowsError(try Tensor.gaussianKernel(size: 4, sigma: 1))
        XCTAssertThrowsError(try Tensor.gaussianKernel(size: 3, sigma: 0))
    }

    func testBlurGradients() {
        let x = Make.uniform([2, 3, 5, 5], seed: 1, 0, 1)
        gradCheck("gaussian blur 3x3 multi-channel", [x], tolerance: 1e-3) { try Tensor.gaussianBlur($0[0], size: 3, sigma: 1) }
        let y = Make.uniform([1, 2, 6, 6], seed: 2, 0, 1)
        gradCheck("gaussian blur 5x5", [y], tolerance: 1e-3) { try Tensor.gaussianBlur($0[0], size: 5, sigma: 0.8) }
        let big = Make.uniform([2, 3, 32, 32], seed: 3, 0, 1)
        directionalCheck("gaussian blur 32x32", [big], tolerance: 1e-3) { try Tensor.gaussianBlur($0[0], size: 5, sigma: 1.5) }
    }

    func testBlurValues() throws {
        // A unit impulse in each channel, scaled per channel, blurs into the scaled kernel.
        let size = 3, sigma: Float = 1
        let k = try Tensor.gaussianKernel(size: size, sigma: sigma)
        var values = [Float](repeating: 0, count: 2 * 5 * 5)
        values[2 * 5 + 2] = 1
        values[25 + 2 * 5 + 2] = 3
        let impulse = Make.tensor([1, 2, 5, 5], values)
        let blurred = try Tensor.gaussianBlur(impulse, size: size, sigma: sigma)
        XCTAssertEqual(blurred.shape, [1, 2, 5, 5])
        for c in 0..<2 {
            for i in 0..<5 {
                for j in 0..<5 {
                    let inside = abs(i - 2) <= 1 && abs(j - 2) <= 1
                    let expected = inside ? k.storage[(i - 1) * 3 + (j - 1)] * (c == 0 ? 1 : 3) : 0
                    XCTAssertEqual(blurred.storage[(c * 5 + i) * 5 + j], expected, accuracy: 1e-6, "channel \(c) (\(i), \(j))")
                }
            }
        }
        // A constant image stays constant away from the border (the kernel sums to 1) and darkens
        // at the border (zero padding).
        let flat = try Tensor.gaussianBlur(try Tensor.full([1, 1, 5, 5], 0.5), size: 3, sigma: 1)
        XCTAssertEqual(flat.storage[2 * 5 + 2], 0.5, accuracy: 1e-6)
        XCTAssertLessThan(flat.storage[0], 0.5)
        // Against conv2d with the kernel on each channel.
        let x = Make.uniform([2, 3, 6, 6], seed: 4, 0, 1)
        let weight = try Tensor.stack([k, k, k], dim: 0).reshaped([3, 1, 3, 3])
        let viaConv = try Tensor.conv2d(x, weight: weight, bias: nil, options: Conv2dOptions(padding: (1, 1), groups: 3))
        assertValues(try Tensor.gaussianBlur(x, size: 3, sigma: 1), [2, 3, 6, 6], viaConv.storage, accuracy: 1e-6, "per channel")
    }
}
