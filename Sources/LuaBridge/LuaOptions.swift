import CLua
import CLuaShim
import Tensor

/// A table of named options, as constructors take them (`nn.Conv2d{in_channels = 1, ...}`),
/// with an optional positional shorthand (`nn.Conv2d{1, 16, 3, padding = 1}`). Every key is
/// checked: an unknown name, a value given twice, or one of the wrong type is an error naming
/// the option.
struct LuaOptions {
    let args: LuaArgs
    /// The table's stack index, or nil when no table was given.
    let index: Int32?
    let names: [String]
    let positional: [String]
    /// Where the names and defaults go while `smia.options_read` runs (see `OptionCatalog`).
    let record: OptionRecord?

    /// Options at argument `i`. Without `required`, nil (or nothing) means all defaults.
    init(_ a: LuaArgs, _ i: Int32, names: [String], positional: [String] = [], required: Bool = false) throws {
        args = a
        self.names = names
        self.positional = positional
        record = OptionCatalog.open(function: a.name, names: names, positional: positional)
        if a.isNil(i) && !required {
            index = nil
            return
        }
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "table of options") }
        index = i
        try validateKeys()
    }

    private func validateKeys() throws {
        guard let i = index else { return }
        let L = args.L
        var byPosition = Set<String>()
        var byName = Set<String>()
        lua_pushnil(L)
        while lua_next(L, i) != 0 {
            smia_pop(L, 1)
            if lua_type(L, -1) == LUA_TSTRING, let key = stringValue(L, -1) {
                guard names.contains(key) else {
                    let known = names.isEmpty ? "it takes no options" : "expected \(names.joined(separator: ", "))"
                    throw args.error(i, "unknown option '\(key)' (\(known))")
                }
                byName.insert(key)
                continue
            }
            if let k = integerValue(L, -1), k >= 1, k <= positional.count {
                byPosition.insert(positional[k - 1])
                continue
            }
            if positional.isEmpty {
                throw args.error(i, "options must be named (expected \(names.joined(separator: ", "))), got key \(describeValue(L, -1))")
            }
            throw args.error(i, "unexpected key \(describeValue(L, -1)) (positional options are \(positional.joined(separator: ", ")))")
        }
        if let twice = positional.first(where: { byPosition.contains($0) && byName.contains($0) }) {
            throw args.error(i, "option '\(twice)' given twice (by position and by name)")
        }
    }

    /// Pushes the option's value (nil when absent) and returns its Lua type.
    func pushValue(_ name: String) -> Int32 {
        let L = args.L
        guard let i = index else {
            lua_pushnil(L)
            return LUA_TNIL
        }
        if rawGetField(L, i, name) != LUA_TNIL { return lua_type(L, -1) }
        smia_pop(L, 1)
        if let p = positional.firstIndex(of: name) {
            return lua_rawgeti(L, i, lua_Integer(p + 1))
        }
        lua_pushnil(L)
        return LUA_TNIL
    }

    private func error(_ name: String, _ expected: String) -> LuaError {
        args.error(index ?? 1, "option '\(name)': \(expected) expected, got \(describeValue(args.L, -1))")
    }

    private func error(_ name: String, message: String) -> LuaError {
        args.error(index ?? 1, "option '\(name)': \(message)")
    }

    func integer(_ name: String) throws -> Int? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        guard let n = integerValue(L, -1) else { throw error(name, "integer") }
        return n
    }

    func integer(_ name: String, default value: Int) throws -> Int {
        record?.noteDefault(name, String(value))
        return try integer(name) ?? value
    }

    /// A positive integer (sizes, channels).
    func positive(_ name: String, default value: Int? = nil) throws -> Int {
        record?.noteDefault(name, value.map { String($0) } ?? "required")
        guard let v = try integer(name) ?? value else {
            throw args.error(index ?? 1, "option '\(name)' is required")
        }
        guard v > 0 else { throw error(name, message: "must be positive, got \(v)") }
        return v
    }

    func number(_ name: String) throws -> Double? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        guard t == LUA_TNUMBER else { throw error(name, "number") }
        let v = lua_tonumberx(L, -1, nil)
        guard !v.isNaN else { throw error(name, message: "NaN is not a valid value") }
        return v
    }

    func number(_ name: String, default value: Double) throws -> Double {
        record?.noteDefault(name, OptionCatalog.describe(value))
        return try number(name) ?? value
    }

    func boolean(_ name: String, default value: Bool) throws -> Bool {
        record?.noteDefault(name, String(value))
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return value }
        guard t == LUA_TBOOLEAN else { throw error(name, "boolean") }
        return lua_toboolean(L, -1) != 0
    }

    func string(_ name: String) throws -> String? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        guard t == LUA_TSTRING, let s = stringValue(L, -1) else { throw error(name, "string") }
        return s
    }

    func string(_ name: String, default value: String) throws -> String {
        record?.noteDefault(name, "'\(value)'")
        return try string(name) ?? value
    }

    func tensor(_ name: String) throws -> Tensor? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        guard let v = TensorBox.get(L, -1) else { throw error(name, "tensor") }
        return v
    }

    /// A table of `count` numbers (`betas = {0.9, 0.999}`).
    func numbers(_ name: String, count: Int) throws -> [Double]? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        let expected = "table of \(count) numbers"
        guard t == LUA_TTABLE, lua_rawlen(L, -1) == count else { throw error(name, expected) }
        var out: [Double] = []
        for k in 1...count {
            let isNumber = lua_rawgeti(L, -1, lua_Integer(k)) == LUA_TNUMBER
            let v = lua_tonumberx(L, -1, nil)
            smia_pop(L, 1)
            guard isNumber, !v.isNaN else { throw error(name, expected) }
            out.append(v)
        }
        return out
    }

    /// A list of integers (`milestones = {30, 60}`), possibly empty.
    func integers(_ name: String) throws -> [Int]? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        guard t == LUA_TTABLE else { throw error(name, "table of integers") }
        var out: [Int] = []
        for k in stride(from: 1, through: Int(lua_rawlen(L, -1)), by: 1) {
            lua_rawgeti(L, -1, lua_Integer(k))
            let n = integerValue(L, -1)
            smia_pop(L, 1)
            guard let n else { throw error(name, "table of integers") }
            out.append(n)
        }
        return out
    }

    /// An integer or a table of two (`3` or `{3, 5}`), as PyTorch's `int or tuple`.
    func pair(_ name: String) throws -> (Int, Int)? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        let expected = "integer or table of 2 integers"
        if t == LUA_TNUMBER {
            guard let n = integerValue(L, -1) else { throw error(name, expected) }
            return (n, n)
        }
        guard t == LUA_TTABLE, lua_rawlen(L, -1) == 2 else { throw error(name, expected) }
        var out: [Int] = []
        for k in 1...2 {
            lua_rawgeti(L, -1, lua_Integer(k))
            let n = integerValue(L, -1)
            smia_pop(L, 1)
            guard let n else { throw error(name, expected) }
            out.append(n)
        }
        return (out[0], out[1])
    }

    func pair(_ name: String, default value: (Int, Int)) throws -> (Int, Int) {
        record?.noteDefault(name, value.0 == value.1 ? String(value.0) : "{\(value.0), \(value.1)}")
        return try pair(name) ?? value
    }

    /// A number or a list of numbers (`0.5` or `{0.485, 0.456, 0.406}`), none of them NaN.
    func numbers(_ name: String) throws -> [Double]? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        let expected = "number or list of numbers"
        var out: [Double] = []
        if t == LUA_TNUMBER {
            out = [lua_tonumberx(L, -1, nil)]
        } else {
            guard t == LUA_TTABLE, lua_rawlen(L, -1) > 0 else { throw error(name, expected) }
            for k in 1...Int(lua_rawlen(L, -1)) {
                let isNumber = lua_rawgeti(L, -1, lua_Integer(k)) == LUA_TNUMBER
                let v = lua_tonumberx(L, -1, nil)
                smia_pop(L, 1)
                guard isNumber else { throw error(name, message: "number expected at position \(k)") }
                out.append(v)
            }
        }
        guard !out.contains(where: \.isNaN) else { throw error(name, message: "NaN is not a valid value") }
        return out
    }

    /// A list of strings (`{"accuracy", "var"}`).
    func strings(_ name: String) throws -> [String]? {
        let L = args.L
        let t = pushValue(name)
        defer { smia_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        guard t == LUA_TTABLE else { throw error(name, "list of strings") }
        var out: [String] = []
        for k in stride(from: 1, through: Int(lua_rawlen(L, -1)), by: 1) {
            let isString = lua_rawgeti(L, -1, lua_Integer(k)) == LUA_TSTRING
            let v = stringValue(L, -1)
            smia_pop(L, 1)
            guard isString, let v else { throw error(name, message: "string expected at position \(k)") }
            out.append(v)
        }
        return out
    }

    /// A number or a table of two (`2` or `{2, 1.5}`), as PyTorch's `float or tuple`.
    func numberPair(_ name: String) throws -> (Double, Double)? {
        guard let v = try numbers(name) else { return nil }
        guard v.count <= 2 else { throw args.error(index ?? 1, "option '\(name)': expected a number or a table of 2 numbers, got \(v.count) numbers") }
        return v.count == 1 ? (v[0], v[0]) : (v[0], v[1])
    }
}

/// `t[name]` without metamethods; pushes the value and returns its type.
@discardableResult
func rawGetField(_ L: OpaquePointer, _ index: Int32, _ name: String) -> Int32 {
    let i = lua_absindex(L, index)
    pushString(L, name)
    return lua_rawget(L, i)
}

/// `t[name] = v` without metamethods: `v` is on top of the stack (popped), the table at `index`
/// (-2: just below `v`). Names may hold any bytes, NUL included.
func rawSetField(_ L: OpaquePointer, _ index: Int32, _ name: String) {
    let table = lua_absindex(L, index)
    pushString(L, name)
    smia_insert(L, -2)
    lua_rawset(L, table)
}
