import Foundation

/// Elementwise arithmetic and activations with broadcasting, each with its gradient rule.

/// Applies `f` to pairs of a broadcast operation, with fast paths for equal shapes and scalars.
@inline(__always)
func broadcastMap<F: BinaryFunction>(_ a: Tensor, _ b: Tensor, op: String, _ f: F) throws -> Tensor {
    let shape = a.shape == b.shape ? a.shape : try broadcastShape(a.shape, b.shape, op: op)
    let out = a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb -> [Float] in
            guard let ap = pa.baseAddress, let bp = pb.baseAddress else { return [] }
            if a.shape == b.shape {
                return uninitializedFloats(a.count) { mapValues(ap, bp, into: $0, count: a.count, f) }
            }
            if b.count == 1 && shape == a.shape {
                return uninitializedFloats(a.count) { mapValues(ap, scalar: bp[0], into: $0, count: a.count, f) }
            }
            if a.count == 1 && shape == b.shape {
                return uninitializedFloats(b.count) { mapValues(scalar: ap[0], bp, into: $0, count: b.count, f) }
            }
            return broadcastValues(ap, a.shape, bp, b.shape, to: shape, f)
        }
    }
    return Tensor(uncheckedShape: shape, storage: out)
}

/// The closure form, for operations without a function type of their own.
@inline(__always)
func broadcastMap(_ a: Tensor, _ b: Tensor, op: String, _ f: @escaping (Float, Float) -> Float) throws -> Tensor {
    try broadcastMap(a, b, op: op, BinaryClosure(body: f))
}

/// The arithmetic and the comparisons the loops are compiled for.
struct Add: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct Subtract: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct Multiply: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct Divide: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
/// The smaller (`Minimum`) or larger value; on a tie the first.
struct Minimum: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a < b || a == b ? a : b } }
struct Maximum: BinaryFunction { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a > b || a == b ? a : b } }
struct Negate: UnaryFunction { @inline(__always) func callAsFunction(_ x: Float) -> Float { -x } }

/// The derivative of an elementwise function, given the input `x` and the output `y`
/// (whichever is cheaper).
protocol ElementwiseDerivative {
    func derivative(_ x: Float, _ y: Float) -> Float
}

/// An activation or elementwise function with its derivative.
protocol DifferentiableFunction: UnaryFunction, ElementwiseDerivative {}

struct Absolute: DifferentiableFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.abs(x) }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}
struct Sign: DifferentiableFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { 0 }
}
struct Exponential: DifferentiableFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { y }
}
struct Logarithm: DifferentiableFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { 1 / x }
}
struct SquareRoot: DifferentiableFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { 0.5 / y }
}
/// The derivative of σ(x), the logistic function (values: `LogisticValues`).
struct LogisticDerivative: ElementwiseDerivative {
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { y * (1 - y) }
}
/// The derivative of log σ(x), σ(-x) (values: `LogisticValues`).
struct LogSigmoidDerivative: ElementwiseDerivative {
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { 1 / (1 + Foundation.exp(x)) }
}
struct HyperbolicTangent: DifferentiableFunction {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { 1 - y * y }
}
/// The leaky ReLU (the layer is `LeakyReLU`).
struct LeakyRectifier: DifferentiableFunction {
    let slope: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : slope * x }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : slope }
}
/// The gradient passes where the value was inside the bounds (inclusive), as in PyTorch.
struct Clamp: DifferentiableFunction {
    let low: Float, high: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x, low), high) }
    @inline(__always) func derivative(_ x: Float, _ y: Float) -> Float { x >= low && x <= high ? 1 : 0 }
}

/// `derivative(x, y)` as a function of the pair, for a gradient that meets a broadcast.
private struct DerivativeOf<F: ElementwiseDerivative>: BinaryFunction {
    let f: F
    @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float { f.derivative(x, y) }
}

extension Tensor {
    @inline(__always)
    func map<F: UnaryFunction>(_ f: F) -> Tensor {
        let n = count
        let out = storage.withUnsafeBufferPointer { p in
            uninitializedFloats(n) { o in
                guard let src = p.baseAddress else { return }
                mapValues(src, into: o, count: n, f)
            }
        }
        return Tensor(uncheckedShape: shape, storage: out)
    }

    /// The closure form, for operations without a function type of their own.
    @inline(__always)
    func map(_ f: @escaping (Float) -> Float) -> Tensor { map(UnaryClosure(body: f)) }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "add", Add()).recording("add", [a, b]) { g, need in
            [need[0] ? g.sumTo(a.shape) : nil, need[1] ? g.sumTo(b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "sub", Subtract()).recording("sub", [a, b]) { g, need in
            [need[0] ? g.sumTo(a.shape) : nil, need[1] ? g.map(Negate()).sumTo(b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "mul", Multiply()).recording("mul", [a, b]) { g, need in
            [need[0] ? try (g * b.detached()).sumTo(a.shape) : nil,
             need[1] ? try (g * a.detached()).sumTo(b.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "div", Divide()).recording("div", [a, b]) { g, need in
            let bd = b.detached()
            return [need[0] ? try (g / bd).sumTo(a.shape) : nil,
                    need[1] ? try (g * a.detached() / (bd * bd)).map(Negate()).sumTo(b.shape) : nil]
        }
    }

    public static prefix func - (a: Tensor) -> Tensor {
        a.map(Negate()).recording("neg", [a]) { g, _ in [g.map(Negate())] }
    }

    /// `self ^ exponent`, elementwise with broadcasting.
    public func pow(_ exponent: Tensor) throws -> Tensor {
        let a = self
        return try broadcastMap(a, exponent, op: "pow") { Foundation.pow($0, $1) }.recording("pow", [a, exponent]) { g, need in
            let ad = a.detached(), ed = exponent.detached()
            let da: Tensor? = need[0] ? try (g * broadcastMap(ad, ed, op: "pow") { x, p in p == 0 ? 0 : p * Foundation.pow(x, p - 1) }).sumTo(a.shape) : nil
            let db: Tensor? = need[1] ? try (g * broadcastMap(ad, ed, op: "pow") { x, p in x > 0 ? Foundation.pow(x, p) * Foundation.log(x) : 0 }).sumTo(exponent.shape) : nil
            return [da, db]
        }
    }

    /// A unary op whose derivative is a function of the input `x` and the output `y`.
    @inline(__always)
    func unary<F: DifferentiableFunction>(_ name: String, _ f: F) -> Tensor {
        unary(name, values: map(f).storage, f)
    }

    /// The unary op of this tensor whose outputs are `values`, recorded with `f`'s derivative.
    @inline(__always)
    func unary<F: ElementwiseDerivative>(_ name: String, values: [Float], _ f: F) -> Tensor {
        let x = self
        // The values, not the result: a rule that held its own result would keep the graph alive forever.
        return Tensor(uncheckedShape: shape, storage: values).recording(name, [x]) { g, _ in
            guard g.shape == x.shape else {
                let d = try broadcastMap(x, Tensor(uncheckedShape: x.shape, storage: values), op: name, DerivativeOf(f: f))
                return [try g * d]
            }
            // g · f'(x, y) in one pass.
            let n = x.count
            let dx = g.storage.withUnsafeBufferPointer { pg in
                x.storage.withUnsafeBufferPointer { px in
                    values.withUnsafeBufferPointer { py in
                        uninitializedFloats(n) { out in
                            guard let gp = pg.baseAddress, let xp = px.baseAddress, let yp = py.baseAddress else { return }
                            parallelRanges(n) { r in for i in r { out[i] = gp[i] * f.derivative(xp[i], yp[i]) } }
                        }
                    }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }

    public func abs() -> Tensor { unary("abs", Absolute()) }
    /// -1, 0 or 1; its gradient is zero everywhere.
    public func sign() -> Tensor { unary("sign", Sign()) }
    public func exp() -> Tensor { unary("exp", Exponential()) }
    public func log() -> Tensor { unary("log", Logarithm()) }
    public func sqrt() -> Tensor { unary("sqrt", SquareRoot()) }
    /// Its own loops rather than `unary`'s closures: every CNN layer runs one, forward and back.
    public func relu() -> Tensor {
        let x = self, n = count
        let y = storage.withUnsafeBufferPointer { px in
            uninitializedFloats(n) { out in
                guard let src = px.baseAddress else { return }
                parallelRanges(n) { r in for i in r { out[i] = src[i] > 0 ? src[i] : 0 } }
            }
        }
        return Tensor(uncheckedShape: shape, storage: y).recording("relu", [x]) { g, _ in
            guard g.shape == x.shape else { return [try g * x.map { $0 > 0 ? 1 : 0 }] }
            let dx = g.storage.withUnsafeBufferPointer { pg in
                x.storage.withUnsafeBufferPointer { px in
                    uninitializedFloats(n) { out in
                        guard let gp = pg.baseAddress, let xp = px.baseAddress else { return }
                        parallelRanges(n) { r in for i in r { out[i] = gp[i] * (xp[i] > 0 ? 1 : 0) } }
                    }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }
    public func sigmoid() -> Tensor { unary("sigmoid", values: LogisticValues(storage, p: true).p, LogisticDerivative()) }
    /// log σ(x) = min(x, 0) - log(1 + e^-|x|), finite for any logit; its derivative is σ(-x).
    public func logSigmoid() -> Tensor { unary("log_sigmoid", values: LogisticValues(storage, logP: true).logP, LogSigmoidDerivative()) }
    public func tanh() -> Tensor { unary("tanh", HyperbolicTangent()) }
    public func leakyRelu(_ slope: Float) -> Tensor { unary("leaky_relu", LeakyRectifier(slope: slope)) }

    /// Limits values to [lo, hi]; either bound may be absent. The gradient passes where the value
    /// was inside the bounds (inclusive), as in PyTorch.
    public func clamp(min lo: Float?, max hi: Float?) throws -> Tensor {
        if let lo, let hi, lo > hi { throw TensorError("clamp: lower bound \(lo) is above upper bound \(hi)") }
        return unary("clamp", Clamp(low: lo ?? -Float.infinity, high: hi ?? Float.infinity))
    }

    /// Elementwise minimum; ties share the gradient equally, as in PyTorch.
    public func minimum(_ other: Tensor) throws -> Tensor { try extremum(other, "minimum", Minimum(), <) }
    public func maximum(_ other: Tensor) throws -> Tensor { try extremum(other, "maximum", Maximum(), >) }

    /// `pick` the chosen value of a pair, `better` whether the first one is strictly chosen.
    private func extremum<F: BinaryFunction>(_ other: Tensor, _ name: String, _ pick: F,
                                             _ better: @escaping (Float, Float) -> Bool) throws -> Tensor {
        let a = self, b = other
        return try broadcastMap(a, b, op: name, pick).recording(name, [a, b]) { g, need in
            let wa = try broadcastMap(a.detached(), b.detached(), op: name) { x, y in better(x, y) ? 1 : (x == y ? 0.5 : 0) }
            return [need[0] ? try (g * wa).sumTo(a.shape) : nil,
                    need[1] ? try (g * wa.map { 1 - $0 }).sumTo(b.shape) : nil]
        }
    }

    /// `condition ? a : b` elementwise (a nonzero condition counts as true), with broadcasting.
    public static func select(where condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = try broadcastShape(try broadcastShape(condition.shape, a.shape, op: "where"), b.shape, op: "where")
        let c = try condition.expand(to: shape), ea = try a.expand(to: shape), eb = try b.expand(to: shape)
        var out = [Float](repeating: 0, count: c.count)
        let (cv, av, bv) = (c.storage, ea.storage, eb.storage)  // once each, not per element
        for i in 0..<out.count { out[i] = cv[i] != 0 ? av[i] : bv[i] }
        return Tensor(uncheckedShape: shape, storage: out).recording("where", [a, b]) { g, need in
            let mask = c.map { $0 != 0 ? 1 : 0 }
            return [need[0] ? try (g * mask).sumTo(a.shape) : nil,
                    need[1] ? try (g * mask.map { 1 - $0 }).sumTo(b.shape) : nil]
        }
    }

    /// Materializes a broadcast to `shape` (no gradient: used by kernels that want equal sizes).
    func expand(to target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let shape = try broadcastShape(self.shape, target, op: "expand")
        guard shape == target else {
            throw TensorError("expand: size \(describeShape(self.shape)) cannot be broadcast to \(describeShape(target))")
        }
        return try broadcastMap(self, Tensor.zerosUnchecked(target), op: "expand") { x, _ in x }
    }

    /// Elementwise comparisons giving 1 or 0 (no gradient).
    public func compare(_ other: Tensor, _ op: String) throws -> Tensor {
        let f: (Float, Float) -> Bool
        switch op {
        case "eq": f = (==)
        case "ne": f = (!=)
        case "lt": f = (<)
        case "le": f = (<=)
        case "gt": f = (>)
        case "ge": f = (>=)
        default: throw TensorError("compare: unknown comparison '\(op)' (expected eq, ne, lt, le, gt or ge)")
        }
        return try broadcastMap(self, other, op: op) { f($0, $1) ? 1 : 0 }
    }
}

// Number on either side.
extension Tensor {
    public static func + (a: Tensor, s: Float) throws -> Tensor { try a + Tensor(scalar: s) }
    public static func - (a: Tensor, s: Float) throws -> Tensor { try a - Tensor(scalar: s) }
    public static func * (a: Tensor, s: Float) throws -> Tensor { try a * Tensor(scalar: s) }
    public static func / (a: Tensor, s: Float) throws -> Tensor { try a / Tensor(scalar: s) }
}
