/// A float32 tensor of any rank: contiguous, row-major.
///
/// A reference type, so the autodiff tape can tell tensors apart and attach a gradient rule to
/// each result. Values live in a Swift array (copy-on-write), which keeps kernels simple:
/// they borrow it as an unsafe buffer for the hot loops. A view (`TensorView.swift`) shares
/// its values with a base tensor.
public final class Tensor {
    public let shape: [Int]
    public internal(set) var storage: [Float]
    /// A leaf the caller asked gradients for (set by `grad(of:wrt:)`, parameters, ...).
    public var requiresGrad: Bool = false
    /// How this tensor was computed, when it was computed while recording. See `Tape.swift`.
    var origin: Origin?
    /// For a view: its base, offset and strides (`TensorView.swift`).
    var viewLink: ViewLink?
    /// Counts the in-place writes to this tensor's values (through any of its views).
    var ownVersion = 0
    /// The version of the values this tensor shows: its base's for a view. The tape compares it.
    var version: Int { viewLink?.base.ownVersion ?? ownVersion }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// Wraps values already laid out row-major; the count must match the shape.
    public init(shape: [Int], storage: [Float]) throws {
        for d in shape where d < 0 {
            throw TensorError("tensor: negative dimension in shape \(shape)")
        }
        let n = try checkedCount(shape)
        guard n == storage.count else {
            throw TensorError("tensor: shape \(describeShape(shape)) needs \(n) values, got \(storage.count)")
        }
        self.shape = shape
        self.storage = storage
    }

    /// For kernels that have already checked the count.
    init(uncheckedShape shape: [Int], storage: [Float]) {
        self.shape = shape
        self.storage = storage
    }

    public convenience init(scalar: Float) {
        self.init(uncheckedShape: [], storage: [scalar])
    }

    public static func full(_ shape: [Int], _ value: Float) throws -> Tensor {
        for d in shape where d < 0 { throw TensorError("full: negative dimension in shape \(shape)") }
        return Tensor(uncheckedShape: shape, storage: [Float](repeating: value, count: try checkedCount(shape)))
    }
    public static func zeros(_ shape: [Int]) throws -> Tensor { try full(shape, 0) }
    public static func ones(_ shape: [Int]) throws -> Tensor { try full(shape, 1) }

    /// `0, 1, ..., n-1`.
    public static func arange(_ n: Int) throws -> Tensor {
        guard n >= 0 else { throw TensorError("arange: expected a count >= 0, got \(n)") }
        return Tensor(uncheckedShape: [n], storage: (0..<n).map { Float($0) })
    }

    static func zerosUnchecked(_ shape: [Int]) -> Tensor {
        Tensor(uncheckedShape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// The single value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else {
            throw TensorError("item: expected a tensor with one element, got size \(describeShape(shape))")
        }
        return storage[0]
    }

    /// Row-major strides in elements.
    public var strides: [Int] { stridesOf(shape) }

    /// A tensor with the same values and no history: gradients do not flow through it.
    public func detached() -> Tensor { Tensor(uncheckedShape: shape, storage: storage) }

    /// Whether operations on this tensor must be recorded for differentiation.
    public var needsGrad: Bool { requiresGrad || origin != nil }

    /// Replaces the values in place (optimizers, weight loading); the shape must match. A view
    /// writes through to its base.
    public func assign(_ other: Tensor) throws {
        guard other.shape == shape else {
            throw TensorError("assign: expected size \(describeShape(shape)), got \(describeShape(other.shape))")
        }
        storage = other.storage
        didWriteInPlace()
    }

    /// In-place access to the values (indexed assignment, in-place updates from scripts); the
    /// buffer keeps the shape's count and nothing is recorded for differentiation. A view
    /// writes through to its base.
    public func withMutableValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        synchronized()
        defer { didWriteInPlace() }
        return try storage.withUnsafeMutableBufferPointer { try body($0) }
    }
}

func stridesOf(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        s[i] = acc
        acc *= shape[i]
    }
    return s
}

/// Element count of a shape, refusing sizes that would overflow or exhaust memory.
func checkedCount(_ shape: [Int]) throws -> Int {
    var n = 1
    for d in shape {
        let (m, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow, m <= maxTensorElements else {
            throw TensorError("tensor: size \(describeShape(shape)) is too large (at most \(maxTensorElements) elements)")
        }
        n = m
    }
    return n
}

/// 4 Gi elements (16 GiB): larger requests are mistakes, not tensors this machine can hold.
public let maxTensorElements = 1 << 32
