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
        var figures = [Figures](repeating: Figures(linf: 0, l2: 0, l0: 0, variance: 0, psnr: 0), count: n)
        clean.storage.withUnsafeBufferPointer { pc in
            adversarial.storage.withUnsafeBufferPointer { pa in
                figures.withUnsafeMutableBufferPointer { out in
                    guard let c = pc.baseAddress, let a = pa.baseAddress else { return }
                    // The images in pieces across the cores.
                    parallelRanges(n, cost: 4 * values) { images in
                        for i in images { out[i] = Self.figures(c + i * values, a + i * values, values) }
                    }
                }
            }
        }
        (linf, l2, l0) = (figures.map(\.linf), figures.map(\.l2), figures.map(\.l0))
        (variance, psnr) = (figures.map(\.variance), figures.map(\.psnr))
    }

    private struct Figures {
        let linf, l2, l0, variance, psnr: Float
    }

    /// The figures of one image's η = y − x.
    private static func figures(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ values: Int) -> Figures {
        let first = firstPass(x, y, values)
        // The variance from the values' distances to their mean (a second pass), which stays
        // exact where the mean is large against the spread.
        let mean = first.sum / Double(Swift.max(values, 1))
        let centered = centeredSquares(x, y, values, mean: mean)
        let mse = first.squares / Double(Swift.max(values, 1))
        return Figures(linf: first.largest, l2: Float(first.squares.squareRoot()), l0: Float(first.changed),
                       variance: Float(centered / Double(Swift.max(values, 1))),
                       psnr: mse > 0 ? Float(Swift.min(100, 10 * log10(1 / mse))) : 100)
    }

    private typealias Lanes = SIMD8<Float>
    private typealias DoubleLanes = SIMD8<Double>

    /// Over η = y − x: the largest |η|, how many |η| exceed `changed`, Σ η and Σ η², eight
    /// values at a time and then the rest one by one.
    private static func firstPass(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int)
        -> (largest: Float, changed: Int, sum: Double, squares: Double) {
        var largest = Lanes(repeating: 0), changedLanes = SIMD8<Int32>(repeating: 0)
        var sum = DoubleLanes(repeating: 0), squares = DoubleLanes(repeating: 0)
        let threshold = Lanes(repeating: changed)
        var j = 0
        while j + Lanes.scalarCount <= count {
            let eta = Lanes.load(y + j) - Lanes.load(x + j)
            let size = eta.replacing(with: -eta, where: eta .< 0)
            largest.replace(with: size, where: size .> largest)
            changedLanes &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: size .> threshold)
            let wide = DoubleLanes(eta)
            sum += wide
            squares += wide * wide
            j += Lanes.scalarCount
        }
        var top = largest.max(), changedCount = Int(changedLanes.wrappedSum()), total = sum.sum(), totalSquares = squares.sum()
        while j < count {
            let eta = y[j] - x[j], size = Swift.abs(eta)
            top = Swift.max(top, size)
            if size > changed { changedCount += 1 }
            total += Double(eta)
            totalSquares += Double(eta) * Double(eta)
            j += 1
        }
        return (top, changedCount, total, totalSquares)
    }

    /// Σ (η − mean)² in doubles, eight values at a time and then the rest.
    private static func centeredSquares(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int, mean: Double) -> Double {
        var lanes = DoubleLanes(repeating: 0)
        let centre = DoubleLanes(repeating: mean)
        var j = 0
        while j + Lanes.scalarCount <= count {
            let d = DoubleLanes(Lanes.load(y + j) - Lanes.load(x + j)) - centre
            lanes += d * d
            j += Lanes.scalarCount
        }
        var total = lanes.sum()
        while j < count {
            let d = Double(y[j] - x[j]) - mean
            total += d * d
            j += 1
        }
        return total
    }
}
