import Foundation

/// Gaussian smoothing, the W of SMIA's stabilization term.

extension Tensor {
    /// A normalized size x size Gaussian kernel (values sum to 1); size must be odd.
    public static func gaussianKernel(size: Int, sigma: Float) throws -> Tensor {
        let taps = try gaussianTaps(size: size, sigma: sigma)
        _ = try checkedCount([size, size])
        return Tensor(uncheckedShape: [size, size], storage: taps.flatMap { a in taps.map { a * $0 } })
    }

    /// Blurs each channel of (N, C, H, W) by the kernel, "same" size with zero padding. The
    /// Gaussian is separable: a pass along the rows then one along the columns, 2·size
    /// multiply-adds per value instead of size². The blur is its own adjoint (a symmetric kernel
    /// with zero padding), so its gradient is the blurred gradient.
    public static func gaussianBlur(_ x: Tensor, size: Int, sigma: Float) throws -> Tensor {
        guard x.rank == 4 else { throw TensorError("gaussian_blur: expected input of size (N, C, H, W), got \(describeShape(x.shape))") }
        let taps = try gaussianTaps(size: size, sigma: sigma)
        return separableBlur(x, taps).recording("gaussian_blur", [x]) { g, _ in [separableBlur(g, taps)] }
    }

    /// The normalized one-dimensional Gaussian whose outer product with itself is `gaussianKernel`.
    public static func gaussianTaps(size: Int, sigma: Float) throws -> [Float] {
        guard size > 0, size % 2 == 1 else { throw TensorError("gaussian_kernel: size must be a positive odd number, got \(size)") }
        guard sigma > 0, sigma.isFinite else { throw TensorError("gaussian_kernel: sigma must be positive, got \(sigma)") }
        let center = Double(size / 2)
        _ = try checkedCount([size])
        let values = (0..<size).map { Foundation.exp(-(Double($0) - center) * (Double($0) - center) / (2 * Double(sigma) * Double(sigma))) }
        let total = values.reduce(0, +)
        return values.map { Float($0 / total) }
    }

    /// Each (H, W) plane convolved with `taps` along its rows, then along its columns, zero padding.
    private static func separableBlur(_ x: Tensor, _ taps: [Float]) -> Tensor {
        let h = x.shape[2], w = x.shape[3], planes = x.shape[0] * x.shape[1], r = taps.count / 2
        let plane = h * w
        let out = uninitializedFloats(x.count) { po in
            x.storage.withUnsafeBufferPointer { px in
                taps.withUnsafeBufferPointer { pk in
                    guard let src = px.baseAddress, let k = pk.baseAddress else { return }
                    parallelRanges(planes, cost: plane * taps.count) { range in
                        var rows = [Float](repeating: 0, count: plane)
                        rows.withUnsafeMutableBufferPointer { pr in
                            guard let tmp = pr.baseAddress else { return }
                            for p in range {
                                let s = src + p * plane, d = po + p * plane
                                for i in 0..<h {
                                    for j in 0..<w {
                                        var acc: Float = 0
                                        for t in Swift.max(0, r - j)..<Swift.min(taps.count, w + r - j) { acc += k[t] * s[i * w + j + t - r] }
                                        tmp[i * w + j] = acc
                                    }
                                }
                                for i in 0..<h {
                                    let row = d + i * w
                                    for j in 0..<w { row[j] = 0 }
                                    for t in Swift.max(0, r - i)..<Swift.min(taps.count, h + r - i) {
                                        let weight = k[t], from = tmp + (i + t - r) * w
                                        for j in 0..<w { row[j] += weight * from[j] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: x.shape, storage: out)
    }
}
