/// Sums over contiguous floats in eight SIMD lanes: one running sum is a chain of dependent
/// additions the compiler may not reorder, so it neither vectorizes nor pipelines.

/// Σ p[i] over all `n` values in doubles (as exact as one running double sum, with no overflow
/// of float partial sums): lane sums of blocks of `block` values, added up in block order (the
/// same result on any number of threads), across the cores for long inputs.
func blockedSum(_ p: UnsafePointer<Float>, _ n: Int, block: Int = 1024) -> Double {
    let blocks = (n + block - 1) / block
    if blocks <= 1 { return laneSumInDoubles(p, n) }
    var partial = [Double](repeating: 0, count: blocks)
    partial.withUnsafeMutableBufferPointer { pp in
        guard let out = pp.baseAddress else { return }
        parallelRanges(blocks, cost: block) { r in
            for b in r { out[b] = laneSumInDoubles(p + b * block, Swift.min(block, n - b * block)) }
        }
    }
    return partial.reduce(0, +)
}

/// Σ p[i] over `n` values, the floats widened to doubles, eight lanes at a time.
@inline(__always)
func laneSumInDoubles(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var acc = SIMD8<Double>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        acc += SIMD8<Double>(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self))
        i += 8
    }
    var s = acc.sum()
    while i < n { s += Double(p[i]); i += 1 }
    return s
}

/// Σ p[i] over `n` values, eight lanes at a time.
@inline(__always)
func laneSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Σ (p[i] - center)² over `n` values, eight lanes at a time.
@inline(__always)
func laneSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from center: Float) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    let c8 = SIMD8<Float>(repeating: center)
    var i = 0
    while i + 8 <= n {
        let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - c8
        acc += d * d
        i += 8
    }
    var s = acc.sum()
    while i < n { let d = p[i] - center; s += d * d; i += 1 }
    return s
}

/// Σ g[i] and Σ g[i]·(x[i] - center) over `n` values, eight lanes at a time.
@inline(__always)
func laneSumAndDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, center: Float) -> (Float, Float) {
    var sum = SIMD8<Float>(repeating: 0), dot = SIMD8<Float>(repeating: 0)
    let c8 = SIMD8<Float>(repeating: center)
    var i = 0
    while i + 8 <= n {
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
        let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        sum += gv
        dot += gv * (xv - c8)
        i += 8
    }
    var s = sum.sum(), d = dot.sum()
    while i < n { s += g[i]; d += g[i] * (x[i] - center); i += 1 }
    return (s, d)
}
