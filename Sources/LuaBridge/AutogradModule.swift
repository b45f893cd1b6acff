import CLua
import CLuaShim
import Tensor

/// `smia.autograd`, torch-autograd style: `grad(f)` returns `df`, and
/// `local g, value = df(x, ...)` gives the gradient of the scalar `f(x, ...)` with respect to the
/// first argument, and its value (a number). The first argument is a tensor, or a table of
/// tensors (a list such as `m:parameters()`, a name → tensor table, or nested tables of them);
/// the gradient then has the same keys. Further results of `f` follow `value`.
/// `value_and_grad(f)` returns a function giving `value, g, ...` instead.
///
/// During the call the tensors of the first argument are differentiation inputs (their
/// `requires_grad` flag is set and restored after, even when `f` fails), and recording is on even
/// inside `smia.no_grad`. For module parameters, pass the module's own tensors (`m:parameters()`):
/// `grad(function(params, x, y) return nn.cross_entropy(m(x), y) end)(m:parameters(), x, y)`.
enum AutogradBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 2)
        setFunctions(L, prefix: "autograd.", [
            ("grad", { a in try wrap(a, valueFirst: false) }),
            ("value_and_grad", { a in try wrap(a, valueFirst: true) }),
        ])
    }

    /// Returns a native closure over `f` (upvalue 2).
    private static func wrap(_ a: LuaArgs, valueFirst: Bool) throws -> Int32 {
        try a.checkFunction(1)
        try a.checkNoMore(than: 1)
        lua_pushvalue(a.L, 1)
        let name = valueFirst ? "value_and_grad" : "grad"
        pushFunction(a.L, key: "autograd.apply." + name, name: name, upvalues: 1) { a in
            try apply(a, valueFirst: valueFirst)
        }
        return 1
    }

    /// Where the tensors of the first argument sit, to give the gradient the same shape.
    private indirect enum Layout {
        case tensor(Int)
        case table([(key: Key, value: Layout)])
    }

    private enum Key {
        case string(String)
        case integer(lua_Integer)
    }

    private static func apply(_ a: LuaArgs, valueFirst: Bool) throws -> Int32 {
        let L = a.L
        let nargs = a.count
        var inputs: [Tensor] = []
        var visited = Set<UnsafeRawPointer>()
        let layout = try collect(a, 1, depth: 0, into: &inputs, visited: &visited)

        // The inputs are differentiation leaves for this call only.
        var saved: [ObjectIdentifier: (Tensor, Bool)] = [:]
        for t in inputs where saved[ObjectIdentifier(t)] == nil { saved[ObjectIdentifier(t)] = (t, t.requiresGrad) }
        for (t, _) in saved.values { t.requiresGrad = true }
        defer { for (t, flag) in saved.values { t.requiresGrad = flag } }

        let base = lua_gettop(L)
        guard lua_checkstack(L, nargs + 1) != 0 else { throw a.failure("too many arguments") }
        lua_pushvalue(L, a.upvalue(2))
        for i in stride(from: 1, through: nargs, by: 1) { lua_pushvalue(L, i) }
        try withGradEnabled { try callProtected(L, nargs: nargs, nresults: LUA_MULTRET) }
        let results = lua_gettop(L) - base
        guard results >= 1, let output = TensorBox.get(L, base + 1) else {
            throw a.failure("the function must return a scalar tensor, got \(results == 0 ? "no value" : luaTypeName(L, base + 1))")
        }
        guard output.count == 1 else {
            throw a.failure("the function must return a scalar tensor (one element), got size \(describeShape(output.shape)) (reduce it, e.g. with :sum() or :mean())")
        }
        let value = Double(output.storage[0])
        let grads = try grad(of: output, wrt: inputs)

        if valueFirst { lua_pushnumber(L, value) }
        pushGradient(a, layout, grads)
        if !valueFirst { lua_pushnumber(L, value) }
        guard lua_checkstack(L, results) != 0 else { throw a.failure("too many results") }
        for k in stride(from: 2, through: results, by: 1) { lua_pushvalue(L, base + k) }
        return 2 + results - 1
    }

    private static func collect(_ a: LuaArgs, _ index: Int32, depth: Int, into inputs: inout [Tensor],
                                visited: inout Set<UnsafeRawPointer>) throws -> Layout {
        let L = a.L
        if let t = TensorBox.get(L, index) {
            inputs.append(t)
            return .tensor(inputs.count - 1)
        }
        guard lua_type(L, index) == LUA_TTABLE else {
            throw depth == 0 ? a.typeError(1, "tensor or table of tensors")
                             : a.error(1, "table of tensors expected, found a \(luaTypeName(L, index)) inside")
        }
        guard depth < 16, let p = lua_topointer(L, index), visited.insert(p).inserted else {
            throw a.error(1, "tables of tensors nested too deeply or in a cycle")
        }
        guard lua_checkstack(L, 3) != 0 else { throw a.error(1, "tables of tensors nested too deeply") }
        let table = lua_absindex(L, index)
        var entries: [(key: Key, value: Layout)] = []
        lua_pushnil(L)
        while lua_next(L, table) != 0 {
            let key: Key
            if let k = integerValue(L, -2) {
                key = .integer(lua_Integer(k))
            } else if lua_type(L, -2) == LUA_TSTRING, let s = stringValue(L, -2) {
                key = .string(s)
            } else {
                throw a.error(1, "table keys must be strings or integers, got \(describeValue(L, -2))")
            }
            entries.append((key, try collect(a, -1, depth: depth + 1, into: &inputs, visited: &visited)))
            smia_pop(L, 1)
        }
        return .table(entries)
    }

    private static func pushGradient(_ a: LuaArgs, _ layout: Layout, _ grads: [Tensor]) {
        let L = a.L
        switch layout {
        case .tensor(let i):
            TensorBox.push(L, grads[i])
        case .table(let entries):
            _ = lua_checkstack(L, 3)
            lua_createtable(L, 0, Int32(entries.count))
            for entry in entries {
                switch entry.key {
                case .string(let s): pushString(L, s)
                case .integer(let k): lua_pushinteger(L, k)
                }
                pushGradient(a, entry.value, grads)
                lua_rawset(L, -3)
            }
        }
    }
}
