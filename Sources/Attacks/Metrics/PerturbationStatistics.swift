import Foundation
import Tensor

/// The per-image figures of a perturbation η = x̃ − x that are sums over its values: L∞, L2,
/// L0, variance and PSNR, from one pass over the two images instead of a tensor operation (and
/// its temporary) per figure. Sums are taken in double precision.
public struct PerturbationStatistics {
    /// Largest |η| per image.
    public let linf: [Float]
    /// √Σ η² per image.
    public let l2: [Float]
    /// Count of values with |η| > `PerturbationStatistics.changed` per image.
    public let l0: [Float]
    /// Variance of η's values within each image (the paper's Var, population variance).
    public let variance: [Float]
    /// 10 log₁₀(1 / mean η²) in dB for values in [0, 1]; identical images count as 100 dB.
    public let psnr: [Float]

    /// A value of η counts as changed above this (rounding in x + η − x stays below it).
    public static let changed: Float = 1e-7

    /// The statistics of each image (dimension 0) of `adversarial − clean`.
    public init(clean: Tensor, adversarial: Tensor) throws {
        guard clean.rank >= 1, clean.shape == adversarial.shape else {
            throw TensorError("perturbation metrics: expected clean and adversarial images of the same size, got \(describeShape(clean.shape)) and \(describeShape(adversarial.shape))")
        }
        let n = clean.shape[0], values = clean.count / Swift.max(n, 1)
        var linf = [Float](repeating: 0, count: n), l2 = linf, l0 = linf, variance = linf, psnr = linf
        clean.storage.withUnsafeBufferPointer { pc in
            adversarial.storage.withUnsafeBufferPointer { pa in
                for i in 0..<n {
                    let start = i * values
                    var largest: Float = 0, count = 0
                    var sum = 0.0, squares = 0.0
                    for j in start..<(start + values) {
                        let eta = pa[j] - pc[j], size = Swift.abs(eta)
                        largest = Swift.max(largest, size)
                        if size > Self.changed { count += 1 }
                        sum += Double(eta)
                        squares += Double(eta) * Double(eta)
                    }
                    // The variance from the values' distances to their mean (a second pass),
                    // which stays exact where the mean is large against the spread.
                    let mean = sum / Double(Swift.max(values, 1))
                    var centered = 0.0
                    for j in start..<(start + values) {
                        let d = Double(pa[j] - pc[j]) - mean
                        centered += d * d
                    }
                    let mse = squares / Double(Swift.max(values, 1))
                    linf[i] = largest
                    l2[i] = Float(squares.squareRoot())
                    l0[i] = Float(count)
                    variance[i] = Float(centered / Double(Swift.max(values, 1)))
                    psnr[i] = mse > 0 ? Float(Swift.min(100, 10 * log10(1 / mse))) : 100
                }
            }
        }
        (self.linf, self.l2, self.l0, self.variance, self.psnr) = (linf, l2, l0, variance, psnr)
    }
}
