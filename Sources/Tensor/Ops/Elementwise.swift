import Foundation

/// Elementwise arithmetic and activations with broadcasting, each with its gradient rule.

/// Applies `f` to pairs of a broadcast operation, with fast paths for equal shapes and scalars.
@inline(__always)
func broadcastMap(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) throws -> Tensor {
    if a.shape == b.shape {
        let out = a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                uninitializedFloats(a.count) { po in
                    guard let ap = pa.baseAddress, let bp = pb.baseAddress else { return }
                    mapValues(ap, bp, into: po, count: a.count, f)
                }
            }
        }
        return Tensor(uncheckedShape: a.shape, storage: out)
    }
    let shape = try broadcastShape(a.shape, b.shape, op: op)
    if b.count == 1 && shape == a.shape {
        let s = b.storage[0]
        let out = a.storage.withUnsafeBufferPointer { pa in
            uninitializedFloats(a.count) { po in
                guard let ap = pa.baseAddress else { return }
                mapValues(ap, into: po, count: a.count) { f($0, s) }
            }
        }
        return Tensor(uncheckedShape: shape, storage: out)
    }
    if a.count == 1 && shape == b.shape {
        let s = a.storage[0]
        let out = b.storage.withUnsafeBufferPointer { pb in
            uninitializedFloats(b.count) { po in
                guard let bp = pb.baseAddress else { return }
                mapValues(bp, into: po, count: b.count) { f(s, $0) }
            }
        }
        return Tensor(uncheckedShape: shape, storage: out)
    }
    var out = [Float](repeating: 0, count: shape.reduce(1, *))
    let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
    a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { po in
                forEachBroadcast(shape, sa, sb) { o, i, j in po[o] = f(pa[i], pb[j]) }
            }
        }
    }
    return Tensor(uncheckedShape: shape, storage: out)
}

extension Tensor {
    @inline(__always)
    func map(_ f: (Float) -> Float) -> Tensor {
        let n = count
        let out = storage.withUnsafeBufferPointer { p in
            uninitializedFloats(n) { o in
                guard let src = p.baseAddress else { return }
                mapValues(src, into: o, count: n, f)
            }
        }
        return Tensor(uncheckedShape: shape, storage: out)
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "add", +).recording("add", [a, b]) { g, need in
            [need[0] ? g.sumTo(a.shape) : nil, need[1] ? g.sumTo(b.shape) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "sub", -).recording("sub", [a, b]) { g, need in
            [need[0] ? g.sumTo(a.shape) : nil, need[1] ? g.map { -$0 }.sumTo(b.shape) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "mul", *).recording("mul", [a, b]) { g, need in
            [need[0] ? try (g * b.detached()).sumTo(a.shape) : nil,
             need[1] ? try (g * a.detached()).sumTo(b.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        try broadcastMap(a, b, op: "div", /).recording("div", [a, b]) { g, need in
            let bd = b.detached()
            return [need[0] ? try (g / bd).sumTo(a.shape) : nil,
                    need[1] ? try (g * a.detached() / (bd * bd)).map { -$0 }.sumTo(b.shape) : nil]
        }
    }

    public static prefix func - (a: Tensor) -> Tensor {
        a.map { -$0 }.recording("neg", [a]) { g, _ in [g.map { -$0 }] }
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
    func unary(_ name: String, _ f: (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
        let x = self
        let y = map(f)
        // The values, not `y`: a rule that held its own result would keep the graph alive forever.
        let values = y.storage
        return y.recording(name, [x]) { g, _ in
            guard g.shape == x.shape else {
                let d = try broadcastMap(x, Tensor(uncheckedShape: x.shape, storage: values), op: name, derivative)
                return [try g * d]
            }
            // g · f'(x, y) in one pass.
            let dx = g.storage.withUnsafeBufferPointer { pg in
                x.storage.withUnsafeBufferPointer { px in
                    values.withUnsafeBufferPointer { py in
                        uninitializedFloats(x.count) { out in
                            guard let gp = pg.baseAddress, let xp = px.baseAddress, let yp = py.baseAddress else { return }
                            mapValues(gp, xp, yp, into: out, count: x.count) { g, x, y in g * derivative(x, y) }
                        }
                    }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }

    public func abs() -> Tensor { unary("abs", Swift.abs) { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) } }
    /// -1, 0 or 1; its gradient is zero everywhere.
    public func sign() -> Tensor { unary("sign", { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }) { _, _ in 0 } }
    public func exp() -> Tensor { unary("exp", Foundation.exp) { _, y in y } }
    public func log() -> Tensor { unary("log", Foundation.log) { x, _ in 1 / x } }
    public func sqrt() -> Tensor { unary("sqrt", { $0.squareRoot() }) { _, y in 0.5 / y } }
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
    public func sigmoid() -> Tensor {
        unary("sigmoid", { $0 >= 0 ? 1 / (1 + Foundation.exp(-$0)) : Foundation.exp($0) / (1 + Foundation.exp($0)) }) { _, y in y * (1 - y) }
    }
    /// log σ(x) = min(x, 0) - log(1 + e^-|x|), finite for any logit; its derivative is σ(-x).
    public func logSigmoid() -> Tensor {
        unary("log_sigmoid", { Swift.min($0, 0) - Foundation.log1p(Foundation.exp(-Swift.abs($0))) }) { x, _ in
            1 / (1 + Foundation.exp(x))
        }
    }
    public func tanh() -> Tensor { unary("tanh", Foundation.tanh) { _, y in 1 - y * y } }
    public func leakyRelu(_ slope: Float) -> Tensor {
        unary("leaky_relu", { $0 > 0 ? $0 : slope * $0 }) { x, _ in x > 0 ? 1 : slope }
    }

    /// Limits values to [lo, hi]; either bound may be absent. The gradient passes where the value
    /// was inside the bounds (inclusive), as in PyTorch.
    public func clamp(min lo: Float?, max hi: Float?) throws -> Tensor {
        if let lo, let hi, lo > hi { throw TensorError("clamp: lower bound \(lo) is above upper bound \(hi)") }
        let l = lo ?? -Float.infinity, h = hi ?? Float.infinity
        return unary("clamp", { Swift.min(Swift.max($0, l), h) }) { x, _ in x >= l && x <= h ? 1 : 0 }
    }

    /// Elementwise minimum; ties share the gradient equally, as in PyTorch.
    public func minimum(_ other: Tensor) throws -> Tensor { try extremum(other, "minimum", <) }
    public func maximum(_ other: Tensor) throws -> Tensor { try extremum(other, "maximum", >) }

    private func extremum(_ other: Tensor, _ name: String, _ better: @escaping (Float, Float) -> Bool) throws -> Tensor {
        let a = self, b = other
        return try broadcastMap(a, b, op: name) { better($0, $1) || $0 == $1 ? $0 : $1 }.recording(name, [a, b]) { g, need in
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
        for i in 0..<out.count { out[i] = c.storage[i] != 0 ? ea.storage[i] : eb.storage[i] }
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

    /// True when any value is NaN or infinite.
    public var hasNonFinite: Bool { storage.contains { !$0.isFinite } }
}

// Number on either side.
extension Tensor {
    public static func + (a: Tensor, s: Float) throws -> Tensor { try a + Tensor(scalar: s) }
    public static func - (a: Tensor, s: Float) throws -> Tensor { try a - Tensor(scalar: s) }
    public static func * (a: Tensor, s: Float) throws -> Tensor { try a * Tensor(scalar: s) }
    public static func / (a: Tensor, s: Float) throws -> Tensor { try a / Tensor(scalar: s) }
}
