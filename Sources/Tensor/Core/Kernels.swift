/// Helpers the memory-bound kernels share: output arrays without a zeroing pass, and loops
/// spread over the cores once they are long enough to pay for the threads.

/// Below this many values a loop runs on the calling thread: waking a core costs more than
/// the loop. Measured on a 2-core virtual machine: since the threads spin briefly between
/// regions, two threads pay from 2^15 values on (ResNet's global average pooling of 8x512x7x7,
/// 2^17.6 values, took 17 µs instead of 30, and the U-Net and detector steps were unchanged).
/// 2^17 keeps the regions fewer where a busy machine makes each one wait on a taken core.
let parallelThreshold = 1 << 17

/// An array of `count` floats that `fill` must write entirely: a kernel that writes every value
/// need not pay for zeroing them first.
@inline(__always)
func uninitializedFloats(_ count: Int, _ fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows -> [Float] {
    try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        if let base = buffer.baseAddress { try fill(base) }
        initialized = count
    }
}

/// Runs `body` on pieces of `0..<count` that together cover it, across the cores when `count`
/// (weighted by `cost`, the work per index in values touched) is large.
@inline(__always)
public func parallelRanges(_ count: Int, cost: Int = 1, _ body: (Range<Int>) -> Void) {
    if count * cost < parallelThreshold || threadCount == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let pieces = splitRange(count, parts: threadCount)
    parallelFor(pieces.count) { body(pieces[$0]) }
}

/// A function of one value as a type: a loop generic over it is compiled for that function
/// (specialized and inlined, so it vectorizes) rather than calling a closure per value.
protocol UnaryFunction {
    func callAsFunction(_ x: Float) -> Float
}

/// A function of two values as a type (see `UnaryFunction`).
protocol BinaryFunction {
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

/// A closure as a function type, for the rare operations not worth a type of their own.
struct UnaryClosure: UnaryFunction {
    let body: (Float) -> Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { body(x) }
}

struct BinaryClosure: BinaryFunction {
    let body: (Float, Float) -> Float
    @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { body(a, b) }
}

/// `out[i] = f(a[i])` over `count` values, across the cores for long arrays.
@inline(__always)
func mapValues<F: UnaryFunction>(_ a: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int, _ f: F) {
    parallelRanges(count) { r in for i in r { out[i] = f(a[i]) } }
}

/// `out[i] = f(a[i], b[i])` over `count` values, across the cores for long arrays.
@inline(__always)
func mapValues<F: BinaryFunction>(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                  count: Int, _ f: F) {
    parallelRanges(count) { r in for i in r { out[i] = f(a[i], b[i]) } }
}

/// `out[i] = f(a[i], s)` over `count` values, across the cores for long arrays.
@inline(__always)
func mapValues<F: BinaryFunction>(_ a: UnsafePointer<Float>, scalar s: Float, into out: UnsafeMutablePointer<Float>,
                                  count: Int, _ f: F) {
    parallelRanges(count) { r in for i in r { out[i] = f(a[i], s) } }
}

/// `out[i] = f(s, b[i])` over `count` values, across the cores for long arrays.
@inline(__always)
func mapValues<F: BinaryFunction>(scalar s: Float, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                  count: Int, _ f: F) {
    parallelRanges(count) { r in for i in r { out[i] = f(s, b[i]) } }
}
