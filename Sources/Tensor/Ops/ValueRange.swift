/// The smallest and largest value of a tensor and whether any value is NaN or infinite, in one
/// pass: the attacks check their images with these on every run. Sixteen values at a time (a
/// loop of one comparison per value does not vectorize), then the values left over one by one.
public struct ValueRange {
    /// The smallest and the largest value, NaN left out: +inf and -inf when there is no other.
    public let min, max: Float
    /// True when a value is NaN, +inf or -inf.
    public let hasNonFinite: Bool
}

extension Tensor {
    public var valueRange: ValueRange { storage.withUnsafeBufferPointer { scanValueRange($0) } }

    /// True when any value is NaN or infinite.
    public var hasNonFinite: Bool { valueRange.hasNonFinite }
}

func scanValueRange(_ values: UnsafeBufferPointer<Float>) -> ValueRange {
    guard let p = values.baseAddress else { return ValueRange(min: .infinity, max: -.infinity, hasNonFinite: false) }
    let n = values.count
    var lo = SIMD16<Float>(repeating: .infinity), hi = SIMD16<Float>(repeating: -.infinity)
    // v - v is 0 for a finite v and NaN for NaN and ±inf; NaN stays in the sum.
    var nonFinite = SIMD16<Float>(repeating: 0)
    var i = 0
    while i + 16 <= n {
        let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
        lo.replace(with: v, where: v .< lo)
        hi.replace(with: v, where: v .> hi)
        nonFinite += v - v
        i += 16
    }
    var low = lo.min(), high = hi.max(), tail: Float = 0
    while i < n {
        let v = p[i]
        if v < low { low = v }
        if v > high { high = v }
        tail += v - v
        i += 1
    }
    // A NaN lane of `lo`, `hi` cannot arise (a NaN compares false), so min()/max() see numbers only.
    return ValueRange(min: low, max: high, hasNonFinite: !(nonFinite.sum() + tail).isFinite)
}
