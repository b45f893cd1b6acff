import Foundation

/// Gaussian smoothing, the W of SMIA's stabilization term.

extension Tensor {
    /// A normalized size x size Gaussian kernel (values sum to 1); size must be odd.
    public static func gaussianKernel(size: Int, sigma: Float) throws -> Tensor {
        guard size > 0, size % 2 == 1 else { throw TensorError("gaussian_kernel: size must be a positive odd number, got \(size)") }
        guard sigma > 0, sigma.isFinite else { throw TensorError("gaussian_kernel: sigma must be positive, got \(sigma)") }
        let center = Double(size / 2)
        var values = [Float](repeating: 0, count: try checkedCount([size, size]))
        var total = 0.0
        for i in 0..<size {
            for j in 0..<size {
                let d2 = (Double(i) - center) * (Double(i) - center) + (Double(j) - center) * (Double(j) - center)
                let v = Foundation.exp(-d2 / (2 * Double(sigma) * Double(sigma)))
                values[i * size + j] = Float(v)
                total += v
            }
        }
        return Tensor(uncheckedShape: [size, size], storage: values.map { Float(Double($0) / total) })
    }

    /// Blurs each channel of (N, C, H, W) by the kernel, "same" size with zero padding.
    public static func gaussianBlur(_ x: Tensor, size: Int, sigma: Float) throws -> Tensor {
        guard x.rank == 4 else { throw TensorError("gaussian_blur: expected input of size (N, C, H, W), got \(describeShape(x.shape))") }
        let c = x.shape[1]
        let k = try gaussianKernel(size: size, sigma: sigma)
        var weights = [Float]()
        weights.reserveCapacity(c * k.count)
        for _ in 0..<c { weights += k.storage }
        let weight = Tensor(uncheckedShape: [c, 1, size, size], storage: weights)
        return try conv2d(x, weight: weight, bias: nil,
                          options: Conv2dOptions(padding: (size / 2, size / 2), groups: c))
    }
}
