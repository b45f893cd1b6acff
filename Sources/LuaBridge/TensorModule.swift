import CLua
import CLuaShim
import Tensor

/// `smia.tensor`: constructors and free functions, and the tensor userdata's methods and
/// operators.
///
/// Positions are 1-based as in Lua and Torch7: dimensions (`t:sum(2)`, `-1` is the last),
/// elements (`t[1]`), ranges (`t:slice(2, 1, 3)` takes elements 1 to 3 inclusive) and the
/// positions given to `t:index`. Values are data and stay as stored: `t:argmax(dim)`, and the
/// indices of `t:max(dim)` / `t:min(dim)`, are 0-based so they compare with class labels
/// (`pred:eq(y)`); add 1 to use one as a position.
///
/// Views, as in Torch7 and PyTorch: `t[i]`, `t[{...}]` (each entry a position, which removes
/// the dimension, or a range `{first, last}`, `{}` for all), `narrow`, `select`, `slice`,
/// `transpose` and `permute` share their values with `t`, so an in-place change to either shows
/// in the other. The other shape methods (`reshape`, `view`, `flatten`, ...) give copies.
/// In-place methods (`copy_`, `add_`, `sub_`, `mul_`, `div_`, `fill_`, `zero_`, `clamp_`,
/// `t[...] = v`) change the tensor itself and record nothing: a gradient that needs a tensor
/// changed in place after it was used is an error, as in PyTorch.
enum TensorBindings {
    /// Pushes the `smia.tensor` table.
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 24)
        setFunctions(L, prefix: "tensor.", functions)
    }

    /// Creates the tensor metatable in the registry: operators, `__index` (methods, then integer
    /// positions), `__newindex`, `__tostring`, `__gc`. Its `methods` field is the method table,
    /// which scripts may extend (`getmetatable(t).methods.double = function(t) return t * 2 end`).
    static func createMetatable(_ L: OpaquePointer) {
        luaL_newmetatable(L, TensorBox.metatable)
        setFunctions(L, prefix: "tensor.mt.", metamethods)
        lua_createtable(L, 0, Int32(methods.count))
        setFunctions(L, prefix: "tensor:", isMethod: true, methods)
        lua_pushvalue(L, -1)
        pushFunction(L, key: "tensor.mt.__index", name: "__index", upvalues: 1, index)
        lua_setfield(L, -3, "__index")
        lua_setfield(L, -2, "methods")
        smia_pop(L, 1)
    }

    // MARK: - Free functions

    static let functions: [(String, LuaBody)] = [
        ("zeros", { a in a.push(try Tensor.zeros(sizes(a, from: 1))) }),
        ("ones", { a in a.push(try Tensor.ones(sizes(a, from: 1))) }),
        ("full", { a in
            let shape = try sizeTable(a, 1)
            return a.push(try Tensor.full(shape, Float(a.number(2))))
        }),
        ("rand", { a in
            let shape = try sizeTable(a, 1)
            return a.push(try Tensor.rand(shape, seed: seedArgument(a, 2)))
        }),
        ("randn", { a in
            let shape = try sizeTable(a, 1)
            return a.push(try Tensor.randn(shape, seed: seedArgument(a, 2)))
        }),
        ("from", { a in a.push(try tensorFromLua(a, 1)) }),
        ("arange", arange),
        ("cat", { a in
            let list = try tensorList(a, 1)
            let rank = list.first?.rank ?? 1
            return a.push(try Tensor.cat(list, dim: a.optionalDimension(2, rank: rank) ?? 0))
        }),
        ("stack", { a in
            let list = try tensorList(a, 1)
            let rank = (list.first?.rank ?? 0) + 1
            return a.push(try Tensor.stack(list, dim: a.optionalDimension(2, rank: rank) ?? 0))
        }),
        ("where", { a in
            a.push(try Tensor.select(where: a.tensor(1), a.tensorOrNumber(2), a.tensorOrNumber(3)))
        }),
        ("minimum", { a in a.push(try a.tensorOrNumber(1).minimum(a.tensorOrNumber(2))) }),
        ("maximum", { a in a.push(try a.tensorOrNumber(1).maximum(a.tensorOrNumber(2))) }),
        ("matmul", { a in a.push(try a.tensor(1).matmul(a.tensor(2))) }),
        ("is_tensor", { a in a.push(TensorBox.get(a.L, 1) != nil) }),
    ]

    /// `arange(n)` = 0, 1, ..., n-1; `arange(start, stop[, step])` = start, start+step, ... below stop.
    private static func arange(_ a: LuaArgs) throws -> Int32 {
        if a.isNil(2) { return a.push(try Tensor.arange(a.integer(1))) }
        let start = try a.notNaN(1), stop = try a.notNaN(2)
        let step = try a.optionalNumber(3) ?? 1
        guard step != 0, step.isFinite, start.isFinite, stop.isFinite else {
            throw a.failure("expected finite start, stop and a nonzero step, got \(start), \(stop), \(step)")
        }
        let count = max(0, ((stop - start) / step).rounded(.up))
        // Checked as a double first: converting one beyond Int's range would trap.
        guard count <= Double(maxTensorElements) else {
            throw a.failure("\(count) values is too many: \(MemoryBudget.describe(Int(min(count * 4, 9e18)))) is more than the memory budget of \(MemoryBudget.describe(MemoryBudget.bytes)) (SMIA_MAX_BYTES sets it)")
        }
        let n = Int(count)
        return a.push(try Tensor(shape: [n], storage: (0..<n).map { Float(start + Double($0) * step) }))
    }

    // MARK: - Metamethods

    static let metamethods: [(String, LuaBody)] = [
        ("__add", binary { try $0 + $1 }),
        ("__sub", binary { try $0 - $1 }),
        ("__mul", binary { try $0 * $1 }),
        ("__div", binary { try $0 / $1 }),
        ("__pow", binary { try $0.pow($1) }),
        ("__unm", { a in a.push(-(try a.tensor(1))) }),
        ("__len", { a in
            let t = try a.tensor(1)
            guard let n = t.shape.first else { throw LuaError("attempt to get length of a scalar tensor") }
            return a.push(integer: n)
        }),
        ("__newindex", setIndex),
        ("__tostring", { a in
            if TensorBox.isReleased(a.L, 1) { return a.push("[released Tensor]") }
            return a.push(formatTensor(try a.tensor(1)))
        }),
        ("__gc", { a in
            TensorBox.release(a.L, 1)
            return 0
        }),
    ]

    private static func binary(_ op: @escaping (Tensor, Tensor) throws -> Tensor) -> LuaBody {
        { a in a.push(try op(a.tensorOrNumber(1), a.tensorOrNumber(2))) }
    }

    /// `t.name` → method; `t[i]` → the view at position i of dimension 1, or a number for
    /// rank 1; `t[{...}]` → the view of those positions and ranges, or a number when every
    /// dimension is given a position.
    private static func index(_ a: LuaArgs) throws -> Int32 {
        switch a.type(2) {
        case LUA_TSTRING:
            // Methods are found even on a released tensor, which the method then reports.
            lua_pushvalue(a.L, 2)
            lua_rawget(a.L, a.upvalue(2))
            return 1
        case LUA_TNUMBER, LUA_TTABLE:
            let t = try a.tensor(1)
            let key = try viewKey(a, 2, in: t)
            if let element = key.element { return a.push(Double(t.storage[element])) }
            return a.push(try t.view(key.indices))
        default:
            lua_pushnil(a.L)
            return 1
        }
    }

    /// `t[i] = v`, `t[{...}] = v` (positions and ranges as for reading): v a number (fills the
    /// block) or a tensor broadcastable to it. Writes through to the tensor's base.
    private static func setIndex(_ a: LuaArgs) throws -> Int32 {
        let t = try a.tensor(1)
        guard a.type(2) == LUA_TNUMBER || a.type(2) == LUA_TTABLE else {
            throw LuaError("cannot set field '\(stringValue(a.L, 2) ?? a.typeName(2))' of a tensor (only t[i] = value)")
        }
        let key = try viewKey(a, 2, in: t)
        if let element = key.element, a.type(3) == LUA_TNUMBER {
            // One element: written directly, without a view (loops set values one by one).
            let v = Float(lua_tonumberx(a.L, 3, nil))
            t.withMutableValues { $0[element] = v }
            return 0
        }
        let block = try withoutGrad { try t.view(key.indices) }
        if a.type(3) == LUA_TNUMBER {
            let v = Float(lua_tonumberx(a.L, 3, nil))
            block.withMutableValues { values in for i in values.indices { values[i] = v } }
        } else if let v = TensorBox.get(a.L, 3) {
            let expanded = try? withoutGrad { try v + Tensor.zeros(block.shape) }
            guard let expanded, expanded.shape == block.shape else {
                throw LuaError("cannot assign a tensor of size \(describeShape(v.shape)) to \(key.description) of size \(describeShape(block.shape))")
            }
            try block.assign(expanded)
        } else {
            throw LuaError("cannot assign a \(a.typeName(3)) to \(key.description) (number or tensor expected)")
        }
        return 0
    }

    /// The dimensions `t[i]` or `t[{...}]` takes: per leading dimension a position (an integer,
    /// 1-based, negative from the end) or a range (`{first, last}` inclusive, `{first}`, `{}` for
    /// all). `element` is the storage offset when every dimension got a position.
    private static func viewKey(_ a: LuaArgs, _ key: Int32, in t: Tensor) throws -> (indices: [ViewIndex], element: Int?, description: String) {
        guard t.rank > 0 else { throw LuaError("cannot index a scalar tensor (use t:item())") }
        let L = a.L
        var indices: [ViewIndex] = []
        var shown: [String] = []
        func position(_ p: Int, _ d: Int) throws -> Int {
            let n = t.shape[d]
            if let i = zeroBasedPosition(p, count: n) { return i }
            throw LuaError("tensor index \(p) out of range for dimension \(d + 1) of size \(n) (expected 1..\(n) or -\(n)..-1)")
        }
        if a.type(key) == LUA_TTABLE {
            let count = Int(lua_rawlen(L, key))
            guard count >= 1, count <= t.rank else {
                throw LuaError("tensor index: expected 1 to \(t.rank) positions or ranges for a tensor of size \(describeShape(t.shape)), got \(count)")
            }
            for d in 0..<count {
                lua_rawgeti(L, key, lua_Integer(d + 1))
                defer { smia_pop(L, 1) }
                if let p = integerValue(L, -1) {
                    indices.append(.at(try position(p, d)))
                    shown.append(String(p))
                } else if lua_type(L, -1) == LUA_TTABLE {
                    let range = try rangeBounds(L, d)
                    let n = t.shape[d]
                    let first = try range.isEmpty ? 0 : position(range[0], d)
                    let last = try range.count < 2 ? (range.isEmpty ? n - 1 : first) : position(range[1], d)
                    guard last >= first - 1 else {
                        throw LuaError("tensor index: range {\(range[0]), \(range[1])} ends before it starts in dimension \(d + 1) of size \(n)")
                    }
                    indices.append(.range(start: first, end: last + 1, step: 1))
                    shown.append("{" + range.map(String.init).joined(separator: ", ") + "}")
                } else {
                    throw LuaError("tensor index: entry \(d + 1) must be a position or a range {first, last}, got \(describeValue(L, -1))")
                }
            }
        } else {
            guard let p = integerValue(L, key) else {
                throw LuaError("tensor index must be an integer, got \(stringValue(L, key) ?? "?")")
            }
            indices.append(.at(try position(p, 0)))
            shown.append(String(p))
        }
        var element: Int?
        if indices.count == t.rank {
            let positions = indices.compactMap { index -> Int? in if case .at(let i) = index { return i } else { return nil } }
            if positions.count == t.rank { element = zip(positions, t.strides).map(*).reduce(0, +) }
        }
        let description = "t[" + (shown.count == 1 && a.type(key) != LUA_TTABLE ? shown[0] : "{" + shown.joined(separator: ", ") + "}") + "]"
        return (indices, element, description)
    }

    // MARK: - Methods

    static let methods: [(String, LuaBody)] = shapeMethods + mathMethods + reductionMethods + inPlaceMethods

    static let shapeMethods: [(String, LuaBody)] = [
        ("shape", { a in a.push(list: try a.tensor(1).shape) }),
        ("size", { a in
            let t = try a.tensor(1)
            if a.isNil(2) { return a.push(list: t.shape) }
            guard t.rank > 0 else { throw a.error(2, "a scalar tensor has no dimensions") }
            return a.push(integer: t.shape[try a.dimension(2, rank: t.rank)])
        }),
        ("dim", { a in a.push(integer: try a.tensor(1).rank) }),
        ("numel", { a in a.push(integer: try a.tensor(1).count) }),
        ("nelement", { a in a.push(integer: try a.tensor(1).count) }),
        ("item", { a in a.push(Double(try a.tensor(1).item())) }),
        ("totable", { a in
            let t = try a.tensor(1)
            pushNested(a.L, t)
            return 1
        }),
        ("clone", { a in
            let t = try a.tensor(1)
            return a.push(try t.reshaped(t.shape))
        }),
        ("detach", { a in a.push(try a.tensor(1).detached(), fresh: false) }),
        ("requires_grad", { a in a.push(try a.tensor(1).requiresGrad) }),
        ("requires_grad_", { a in
            let t = try a.tensor(1)
            t.requiresGrad = try a.optionalBoolean(2) ?? true
            return a.returnSelf()
        }),
        ("reshape", reshape),
        ("view", reshape),
        ("permute", { a in
            let t = try a.tensor(1)
            let dims = try integers(a, from: 2, what: "dimensions")
            let order = try dims.map { d in try zeroBasedDimension(d, rank: t.rank) { a.error(2, $0) } }
            return a.push(try t.permutedView(order))
        }),
        ("transpose", { a in
            let t = try a.tensor(1)
            return a.push(try t.transposedView(a.dimension(2, rank: t.rank), a.dimension(3, rank: t.rank)))
        }),
        ("slice", { a in
            let t = try a.tensor(1)
            guard t.rank > 0 else { throw a.error(1, "cannot slice a scalar tensor") }
            let d = try a.dimension(2, rank: t.rank)
            let n = t.shape[d]
            let start = try rangePosition(a, 3, size: n)
            let stop = try a.isNil(4) ? n : rangePosition(a, 4, size: n)
            let step = try a.optionalInteger(5) ?? 1
            guard step > 0 else { throw a.error(5, "step must be positive, got \(step)") }
            guard stop >= start - 1 else { throw a.error(4, "stop \(stop) is before start \(start)") }
            return a.push(try t.view(leading(t, d) + [.range(start: start - 1, end: stop, step: step)]))
        }),
        ("narrow", { a in
            let t = try a.tensor(1)
            guard t.rank > 0 else { throw a.error(1, "cannot narrow a scalar tensor") }
            let d = try a.dimension(2, rank: t.rank)
            let n = t.shape[d]
            let start = try rangePosition(a, 3, size: n)
            let length = try a.integer(4)
            // `length <= n - (start - 1)` rather than a sum, which a huge length would overflow.
            guard length >= 0, length <= n - (start - 1) else {
                throw a.error(4, "length \(length) from position \(start) does not fit dimension \(d + 1) of size \(n)")
            }
            return a.push(try t.view(leading(t, d) + [.range(start: start - 1, end: start - 1 + length, step: 1)]))
        }),
        ("select", { a in
            let t = try a.tensor(1)
            guard t.rank > 0 else { throw a.error(1, "cannot select from a scalar tensor") }
            let d = try a.dimension(2, rank: t.rank)
            let n = t.shape[d]
            let i = try a.integer(3)
            guard let p = zeroBasedPosition(i, count: n) else {
                throw a.error(3, "index \(i) out of range for dimension \(d + 1) of size \(n)")
            }
            return a.push(try t.view(leading(t, d) + [.at(p)]))
        }),
        ("index", { a in
            let t = try a.tensor(1)
            guard t.rank > 0 else { throw a.error(1, "cannot index a scalar tensor") }
            let d = try a.dimension(2, rank: t.rank)
            let n = t.shape[d]
            let positions: [Int]
            if let idx = TensorBox.get(a.L, 3) {
                guard idx.rank == 1 else { throw a.error(3, "expected a 1-D tensor of positions, got size \(describeShape(idx.shape))") }
                positions = try idx.storage.map { v in
                    guard v.isFinite, v == v.rounded(), v >= 1, v <= Float(n) else {
                        throw a.error(3, "position \(v) out of range 1..\(n) (positions are 1-based)")
                    }
                    return Int(v) - 1
                }
            } else if a.type(3) == LUA_TTABLE {
                positions = try integers(a, from: 3, what: "positions").map { p in
                    guard p >= 1, p <= n else { throw a.error(3, "position \(p) out of range 1..\(n) (positions are 1-based)") }
                    return p - 1
                }
            } else {
                throw a.typeError(3, "tensor or table of positions")
            }
            return a.push(try t.indexSelect(dim: d, indices: Tensor(shape: [positions.count], storage: positions.map(Float.init))))
        }),
        ("flatten", { a in
            let t = try a.tensor(1)
            return a.push(try t.flattened(from: a.optionalDimension(2, rank: t.rank) ?? 0))
        }),
        ("unsqueeze", { a in
            let t = try a.tensor(1)
            let d = try a.dimension(2, rank: t.rank + 1)
            var shape = t.shape
            shape.insert(1, at: d)
            return a.push(try t.reshaped(shape))
        }),
        ("squeeze", { a in
            let t = try a.tensor(1)
            var shape = t.shape
            if let d = try a.optionalDimension(2, rank: t.rank) {
                if d < shape.count && shape[d] == 1 { shape.remove(at: d) }
            } else {
                shape.removeAll { $0 == 1 }
            }
            return a.push(try t.reshaped(shape))
        }),
        ("flip", { a in
            // flip(dim) or flip{dims}: reversed along each given dimension.
            let t = try a.tensor(1)
            let dims = a.type(2) == LUA_TTABLE
                ? try integers(a, from: 2, what: "dimensions", varargs: false).map { d in
                    try zeroBasedDimension(d, rank: t.rank) { a.error(2, $0) }
                }
                : [try a.dimension(2, rank: t.rank)]
            try a.checkNoMore(than: 2)
            return a.push(try dims.reduce(t) { try $0.flipped(dim: $1) })
        }),
        ("pad", { a in
            let t = try a.tensor(1)
            let widths = try integers(a, from: 2, what: "padding widths", varargs: false)
            guard widths.count % 2 == 0, !widths.isEmpty else {
                throw a.error(2, "expected pairs of padding widths {before, after, ...} for the last dimensions, got \(widths.count) numbers")
            }
            let pairs = stride(from: 0, to: widths.count, by: 2).map { (widths[$0], widths[$0 + 1]) }
            return a.push(try t.padded(pairs, value: Float(a.optionalNumber(3) ?? 0)))
        }),
    ]

    /// The integers of the range table on top of the stack (entry `d` of a `t[{...}]` key).
    private static func rangeBounds(_ L: OpaquePointer, _ d: Int) throws -> [Int] {
        let n = Int(lua_rawlen(L, -1))
        guard n <= 2 else {
            throw LuaError("tensor index: a range is {first, last}, {first} or {}, got \(n) numbers for dimension \(d + 1)")
        }
        return try (0..<n).map { k in
            lua_rawgeti(L, -1, lua_Integer(k + 1))
            defer { smia_pop(L, 1) }
            guard let v = integerValue(L, -1) else {
                throw LuaError("tensor index: the range for dimension \(d + 1) must hold integers, got \(describeValue(L, -1))")
            }
            return v
        }
    }

    /// Whole ranges for the `d` dimensions before the one a view method takes.
    private static func leading(_ t: Tensor, _ d: Int) -> [ViewIndex] {
        (0..<d).map { .range(start: 0, end: t.shape[$0], step: 1) }
    }

    private static func reshape(_ a: LuaArgs) throws -> Int32 {
        let t = try a.tensor(1)
        return a.push(try t.reshaped(integers(a, from: 2, what: "sizes")))
    }

    /// A 1-based range bound (negative from the end: -1 is the last), checked against `size`.
    private static func rangePosition(_ a: LuaArgs, _ i: Int32, size n: Int) throws -> Int {
        let p = try a.integer(i)
        if p >= 1 && p <= n + 1 { return p }
        if p < 0 && p >= -n { return n + p + 1 }
        throw a.error(i, "position \(p) out of range for a dimension of size \(n)")
    }

    static let mathMethods: [(String, LuaBody)] = [
        ("add", binary { try $0 + $1 }),
        ("sub", binary { try $0 - $1 }),
        ("mul", binary { try $0 * $1 }),
        ("div", binary { try $0 / $1 }),
        ("pow", binary { try $0.pow($1) }),
        ("neg", unary { -$0 }),
        ("abs", unary { $0.abs() }),
        ("sign", unary { $0.sign() }),
        ("exp", unary { $0.exp() }),
        ("log", unary { $0.log() }),
        ("sqrt", unary { $0.sqrt() }),
        ("relu", unary { $0.relu() }),
        ("sigmoid", unary { $0.sigmoid() }),
        ("tanh", unary { $0.tanh() }),
        ("leaky_relu", { a in a.push(try a.tensor(1).leakyRelu(Float(a.optionalNumber(2) ?? 0.01))) }),
        ("clamp", { a in
            let (lo, hi) = try bounds(a)
            return a.push(try a.tensor(1).clamp(min: lo, max: hi))
        }),
        ("minimum", binary { try $0.minimum($1) }),
        ("maximum", binary { try $0.maximum($1) }),
        ("matmul", { a in a.push(try a.tensor(1).matmul(a.tensor(2))) }),
        ("softmax", { a in
            let t = try a.tensor(1)
            return a.push(try t.softmax(dim: a.dimension(2, rank: t.rank)))
        }),
        ("log_softmax", { a in
            let t = try a.tensor(1)
            return a.push(try t.logSoftmax(dim: a.dimension(2, rank: t.rank)))
        }),
        ("eq", comparison("eq")), ("ne", comparison("ne")),
        ("lt", comparison("lt")), ("le", comparison("le")),
        ("gt", comparison("gt")), ("ge", comparison("ge")),
        ("equal", { a in
            let t = try a.tensor(1), u = try a.tensor(2)
            return a.push(t.shape == u.shape && t.storage == u.storage)
        }),
        ("has_nan", { a in a.push(try a.tensor(1).storage.contains { $0.isNaN }) }),
        ("is_finite", { a in a.push(try !a.tensor(1).hasNonFinite) }),
    ]

    private static func unary(_ op: @escaping (Tensor) throws -> Tensor) -> LuaBody {
        { a in
            let t = try a.tensor(1)
            try a.checkNoMore(than: 1)
            return a.push(try op(t))
        }
    }

    private static func comparison(_ op: String) -> LuaBody {
        { a in a.push(try a.tensor(1).compare(a.tensorOrNumber(2), op)) }
    }

    /// `clamp(lo, hi)` bounds: either may be nil, not both; NaN is refused.
    private static func bounds(_ a: LuaArgs) throws -> (Float?, Float?) {
        let lo = try a.optionalNumber(2), hi = try a.optionalNumber(3)
        guard lo != nil || hi != nil else { throw a.error(2, "number expected for at least one bound, got nil and nil") }
        if let lo, lo.isNaN { throw a.error(2, "lower bound is NaN") }
        if let hi, hi.isNaN { throw a.error(3, "upper bound is NaN") }
        return (lo.map(Float.init), hi.map(Float.init))
    }

    static let reductionMethods: [(String, LuaBody)] = [
        ("sum", { a in
            let t = try a.tensor(1)
            guard let d = try a.optionalDimension(2, rank: t.rank) else { return a.push(t.sum()) }
            return a.push(try t.sum(dim: d, keepDim: a.optionalBoolean(3) ?? false))
        }),
        ("mean", { a in
            let t = try a.tensor(1)
            guard let d = try a.optionalDimension(2, rank: t.rank) else { return a.push(try t.mean()) }
            return a.push(try t.mean(dim: d, keepDim: a.optionalBoolean(3) ?? false))
        }),
        ("var", { a in a.push(try variance(a)) }),
        ("std", { a in a.push(try variance(a).sqrt()) }),
        // max(dim) / min(dim) give values and 0-based indices; argmax / argmin 0-based
        // positions: class labels as stored, so `t:argmax(2):eq(y)` compares with labels.
        // Add 1 to use one as a Lua position (t:index, t:select).
        ("max", { a in try extreme(a, isMax: true) }),
        ("min", { a in try extreme(a, isMax: false) }),
        ("argmax", { a in
            let t = try a.tensor(1)
            guard let d = try a.optionalDimension(2, rank: t.rank) else { return a.push(try t.argmax(dim: nil)) }
            return a.push(try t.argmax(dim: d, keepDim: a.optionalBoolean(3) ?? false))
        }),
        ("argmin", { a in
            let t = try a.tensor(1)
            guard let d = try a.optionalDimension(2, rank: t.rank) else { return a.push(try (-t).argmax(dim: nil)) }
            return a.push(try t.min(dim: d, keepDim: a.optionalBoolean(3) ?? false).indices)
        }),
        ("norm", { a in
            let t = try a.tensor(1)
            let p = try a.optionalNumber(2) ?? 2
            guard !p.isNaN else { throw a.error(2, "p is NaN") }
            return a.push(try t.normPerSample(p: Float(p)))
        }),
    ]

    private static func variance(_ a: LuaArgs) throws -> Tensor {
        let t = try a.tensor(1)
        let d = try a.optionalDimension(2, rank: t.rank)
        return try t.variance(dim: d, unbiased: a.optionalBoolean(3) ?? true, keepDim: a.optionalBoolean(4) ?? false)
    }

    /// `max()` → scalar tensor; `max(dim[, keepdim])` → values, 0-based indices.
    private static func extreme(_ a: LuaArgs, isMax: Bool) throws -> Int32 {
        let t = try a.tensor(1)
        guard let d = try a.optionalDimension(2, rank: t.rank) else { return a.push(try isMax ? t.max() : t.min()) }
        let keep = try a.optionalBoolean(3) ?? false
        let (values, indices) = try isMax ? t.max(dim: d, keepDim: keep) : t.min(dim: d, keepDim: keep)
        a.push(values)
        a.push(indices)
        return 2
    }

    static let inPlaceMethods: [(String, LuaBody)] = [
        ("copy_", inPlace { t, v in v }),
        ("add_", inPlace { try $0 + $1 }),
        ("sub_", inPlace { try $0 - $1 }),
        ("mul_", inPlace { try $0 * $1 }),
        ("div_", inPlace { try $0 / $1 }),
        ("fill_", { a in
            let t = try a.tensor(1)
            let v = Float(try a.number(2))
            t.withMutableValues { values in for i in values.indices { values[i] = v } }
            return a.returnSelf()
        }),
        ("zero_", { a in
            let t = try a.tensor(1)
            t.withMutableValues { values in for i in values.indices { values[i] = 0 } }
            return a.returnSelf()
        }),
        ("clamp_", { a in
            let t = try a.tensor(1)
            let (lo, hi) = try bounds(a)
            try t.assign(withoutGrad { try t.clamp(min: lo, max: hi) })
            return a.returnSelf()
        }),
    ]

    /// `t:op_(x)`: t = op(t, x) in place, without recording; x a tensor broadcastable to t or a
    /// number. The tensor keeps its size.
    private static func inPlace(_ op: @escaping (Tensor, Tensor) throws -> Tensor) -> LuaBody {
        { a in
            let t = try a.tensor(1)
            let x = try a.tensorOrNumber(2)
            let result = try withoutGrad { try op(t, x) + Tensor.zeros(t.shape) }
            guard result.shape == t.shape else {
                throw a.error(2, "size \(describeShape(x.shape)) does not fit the tensor's size \(describeShape(t.shape))")
            }
            try t.assign(result)
            return a.returnSelf()
        }
    }

    // MARK: - Reading Lua values

    /// Sizes as one table `{2, 3}` or as integers `2, 3` from argument `i` on; each >= 0.
    static func sizes(_ a: LuaArgs, from i: Int32) throws -> [Int] {
        let shape = try integers(a, from: i, what: "sizes")
        if let bad = shape.firstIndex(where: { $0 < 0 }) {
            throw a.error(i, "size \(shape[bad]) at position \(bad + 1) is negative")
        }
        return shape
    }

    /// Sizes given as a table (when further arguments follow).
    static func sizeTable(_ a: LuaArgs, _ i: Int32) throws -> [Int] {
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "table of sizes") }
        return try sizes(a, from: i)
    }

    /// Integers as one table `{a, b}` or, when `varargs`, as arguments from `i` on.
    static func integers(_ a: LuaArgs, from i: Int32, what: String, varargs: Bool = true) throws -> [Int] {
        if a.type(i) == LUA_TTABLE { return try integerList(a, i, what: what) }
        guard varargs, a.type(i) == LUA_TNUMBER else {
            throw a.typeError(i, varargs ? "table or numbers (\(what))" : "table of \(what)")
        }
        return try (i...a.count).map { try a.integer($0) }
    }

    /// The list part of the table at `i`, every entry an integer.
    static func integerList(_ a: LuaArgs, _ i: Int32, what: String) throws -> [Int] {
        let L = a.L
        let n = Int(lua_rawlen(L, i))
        var out: [Int] = []
        out.reserveCapacity(n)
        for k in 0..<n {
            lua_rawgeti(L, i, lua_Integer(k + 1))
            defer { smia_pop(L, 1) }
            guard let x = integerValue(L, -1) else {
                throw a.error(i, "\(what): integer expected at position \(k + 1), got \(describeValue(L, -1))")
            }
            out.append(x)
        }
        return out
    }

    /// The list part of the table at `i`, every entry a tensor.
    static func tensorList(_ a: LuaArgs, _ i: Int32) throws -> [Tensor] {
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "table of tensors") }
        let L = a.L
        let n = Int(lua_rawlen(L, i))
        return try (0..<n).map { k in
            lua_rawgeti(L, i, lua_Integer(k + 1))
            defer { smia_pop(L, 1) }
            guard let t = TensorBox.get(L, -1) else {
                throw a.error(i, "tensor expected at position \(k + 1), got \(luaTypeName(L, -1))")
            }
            return t
        }
    }

    private static func seedArgument(_ a: LuaArgs, _ i: Int32) throws -> UInt64 {
        guard let s = try a.optionalInteger(i) else { return BridgeRandom.nextSeed() }
        return UInt64(bitPattern: Int64(s))
    }

    /// A tensor from a nested table of numbers (rectangular), a number (a scalar) or a tensor (a copy).
    static func tensorFromLua(_ a: LuaArgs, _ i: Int32) throws -> Tensor {
        let L = a.L
        if a.type(i) == LUA_TNUMBER { return Tensor(scalar: Float(lua_tonumberx(L, i, nil))) }
        if let t = TensorBox.get(L, i) { return try t.detached().reshaped(t.shape) }
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "table of numbers") }
        // The shape follows the first entries down.
        var shape: [Int] = []
        lua_pushvalue(L, i)
        while lua_type(L, -1) == LUA_TTABLE {
            // 33 values at most on the stack: within the trampoline's reserve.
            guard shape.count < 32 else {
                smia_pop(L, Int32(shape.count + 1))
                throw a.error(i, "tables nested deeper than 32 levels")
            }
            let n = Int(lua_rawlen(L, -1))
            shape.append(n)
            if n == 0 { break }
            lua_rawgeti(L, -1, 1)
        }
        smia_pop(L, Int32(shape.count + (shape.last == 0 ? 0 : 1)))
        var values: [Float] = []
        values.reserveCapacity(try MemoryBudget.elementCount(shape))
        lua_pushvalue(L, i)
        defer { smia_pop(L, 1) }
        try readNested(a, argument: i, shape: shape, level: 0, path: "", into: &values)
        return try Tensor(shape: shape, storage: values)
    }

    private static func readNested(_ a: LuaArgs, argument: Int32, shape: [Int], level: Int, path: String,
                                   into values: inout [Float]) throws {
        let L = a.L
        let n = Int(lua_rawlen(L, -1))
        guard n == shape[level] else {
            throw a.error(argument, "ragged table: \(path.isEmpty ? "the table" : "entry " + path) has \(n) entries, expected \(shape[level])")
        }
        guard lua_checkstack(L, 2) != 0 else { throw a.error(argument, "tables nested too deeply") }
        let leaf = level == shape.count - 1
        for k in stride(from: 1, through: n, by: 1) {
            lua_rawgeti(L, -1, lua_Integer(k))
            defer { smia_pop(L, 1) }
            let here = "\(path)[\(k)]"
            if leaf {
                guard lua_type(L, -1) == LUA_TNUMBER else {
                    throw a.error(argument, "number expected at \(here), got \(describeValue(L, -1))")
                }
                values.append(Float(lua_tonumberx(L, -1, nil)))
            } else {
                guard lua_type(L, -1) == LUA_TTABLE else {
                    throw a.error(argument, "table expected at \(here), got \(describeValue(L, -1))")
                }
                try readNested(a, argument: argument, shape: shape, level: level + 1, path: here, into: &values)
            }
        }
    }

    /// Nested tables of numbers (a number for a scalar).
    static func pushNested(_ L: OpaquePointer, _ t: Tensor) {
        if t.rank == 0 {
            lua_pushnumber(L, Double(t.storage[0]))
            return
        }
        var offset = 0
        t.storage.withUnsafeBufferPointer { values in
            pushLevel(L, shape: t.shape, level: 0, values: values, offset: &offset)
        }
    }

    private static func pushLevel(_ L: OpaquePointer, shape: [Int], level: Int, values: UnsafeBufferPointer<Float>, offset: inout Int) {
        let n = shape[level]
        lua_createtable(L, Int32(clamping: n), 0)
        _ = lua_checkstack(L, 2)
        for k in 0..<n {
            if level == shape.count - 1 {
                lua_pushnumber(L, Double(values[offset]))
                offset += 1
            } else {
                pushLevel(L, shape: shape, level: level + 1, values: values, offset: &offset)
            }
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
    }
}

/// A value as a message shows it: the type, and numbers and strings themselves.
func describeValue(_ L: OpaquePointer, _ index: Int32) -> String {
    let t = lua_type(L, index)
    if t == LUA_TNUMBER, let s = stringValue(L, index) { return "number \(s)" }
    if t == LUA_TSTRING, let s = stringValue(L, index) { return "string '\(s.prefix(40))'" }
    return luaTypeName(L, index)
}

/// Seeds for random tensors made without one: a stream seeded by `smia.seed`.
enum BridgeRandom {
    nonisolated(unsafe) private static var generator = SeededRandom(seed: 0x5EED)

    static func seed(_ s: UInt64) { generator = SeededRandom(seed: s ^ 0x5EED) }
    static func nextSeed() -> UInt64 { generator.next() }
}
