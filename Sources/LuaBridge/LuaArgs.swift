import CLua
import CLuaShim
import Tensor

/// The arguments of one native call, checked with calls that cannot raise. Each checker throws a
/// `LuaError` worded as Lua's own: `bad argument #2 to 'conv2d' (tensor expected, got nil)`.
/// For methods (`t:clamp(lo, hi)`), positions count as the script sees them: the first argument
/// after `self` is #1, and a bad `self` reads `calling 'clamp' on bad self (...)`.
struct LuaArgs {
    let L: OpaquePointer
    let name: String
    let isMethod: Bool

    init(_ L: OpaquePointer, name: String, isMethod: Bool) {
        self.L = L
        self.name = name
        self.isMethod = isMethod
    }

    /// Number of arguments.
    var count: Int32 { lua_gettop(L) }

    func type(_ i: Int32) -> Int32 { lua_type(L, i) }
    func isNil(_ i: Int32) -> Bool { lua_type(L, i) <= LUA_TNIL }
    func typeName(_ i: Int32) -> String { luaTypeName(L, i) }

    /// Stack index of upvalue `n` (1 is the function id; the bridge's own upvalues start at 2).
    func upvalue(_ n: Int32) -> Int32 { smia_upvalueindex(n) }

    // MARK: Errors

    /// `bad argument #i to 'name' (detail)`.
    func error(_ i: Int32, _ detail: String) -> LuaError {
        if isMethod {
            if i == 1 { return LuaError("calling '\(name)' on bad self (\(detail))") }
            return LuaError("bad argument #\(i - 1) to '\(name)' (\(detail))")
        }
        return LuaError("bad argument #\(i) to '\(name)' (\(detail))")
    }

    /// `bad argument #i to 'name' (expected expected, got <type>)`.
    func typeError(_ i: Int32, _ expected: String) -> LuaError {
        error(i, "\(expected) expected, got \(typeName(i))")
    }

    /// An error about the call as a whole: `name: message`.
    func failure(_ message: String) -> LuaError { LuaError("\(name): \(message)") }

    // MARK: Values

    func tensor(_ i: Int32) throws -> Tensor {
        guard let t = TensorBox.get(L, i) else { throw typeError(i, "tensor") }
        return t
    }

    func optionalTensor(_ i: Int32) throws -> Tensor? {
        isNil(i) ? nil : try tensor(i)
    }

    func module(_ i: Int32) throws -> Module {
        guard let m = ModuleBox.get(L, i) else { throw typeError(i, "module") }
        return m
    }

    /// A tensor, or a number taken as a scalar tensor.
    func tensorOrNumber(_ i: Int32) throws -> Tensor {
        if let t = TensorBox.get(L, i) { return t }
        if type(i) == LUA_TNUMBER { return Tensor(scalar: Float(lua_tonumberx(L, i, nil))) }
        throw typeError(i, "tensor or number")
    }

    func number(_ i: Int32) throws -> Double {
        guard type(i) == LUA_TNUMBER else { throw typeError(i, "number") }
        return lua_tonumberx(L, i, nil)
    }

    func optionalNumber(_ i: Int32) throws -> Double? {
        isNil(i) ? nil : try number(i)
    }

    /// A number that must not be NaN (sizes, probabilities, bounds).
    func notNaN(_ i: Int32) throws -> Double {
        let v = try number(i)
        guard !v.isNaN else { throw error(i, "number expected, got NaN") }
        return v
    }

    func integer(_ i: Int32) throws -> Int {
        guard type(i) == LUA_TNUMBER else { throw typeError(i, "number") }
        guard let n = integerValue(L, i) else { throw error(i, "number has no integer representation") }
        return n
    }

    func optionalInteger(_ i: Int32) throws -> Int? {
        isNil(i) ? nil : try integer(i)
    }

    func boolean(_ i: Int32) throws -> Bool {
        guard type(i) == LUA_TBOOLEAN else { throw typeError(i, "boolean") }
        return lua_toboolean(L, i) != 0
    }

    func optionalBoolean(_ i: Int32) throws -> Bool? {
        isNil(i) ? nil : try boolean(i)
    }

    func string(_ i: Int32) throws -> String {
        guard type(i) == LUA_TSTRING, let s = stringValue(L, i) else { throw typeError(i, "string") }
        return s
    }

    func optionalString(_ i: Int32) throws -> String? {
        isNil(i) ? nil : try string(i)
    }

    func checkTable(_ i: Int32) throws {
        guard type(i) == LUA_TTABLE else { throw typeError(i, "table") }
    }

    func checkFunction(_ i: Int32) throws {
        guard type(i) == LUA_TFUNCTION else { throw typeError(i, "function") }
    }

    /// A dimension position as Lua gives it (1-based; -1 is the last) for a tensor of `rank`
    /// dimensions, converted to the engine's 0-based position.
    func dimension(_ i: Int32, rank: Int) throws -> Int {
        let d = try integer(i)
        return try zeroBasedDimension(d, rank: rank) { error(i, $0) }
    }

    func optionalDimension(_ i: Int32, rank: Int) throws -> Int? {
        isNil(i) ? nil : try dimension(i, rank: rank)
    }

    /// No arguments beyond `last` (catches a misspelt call such as `t:sum(1, 2, 3)`).
    func checkNoMore(than last: Int32) throws {
        if count > last { throw error(last + 1, "no value expected, got \(typeName(last + 1))") }
    }

    // MARK: Results

    /// Pushes a tensor; `fresh: false` for one that already existed (a parameter), whose bytes
    /// do not count towards the next forced collection.
    @discardableResult
    func push(_ t: Tensor, fresh: Bool = true) -> Int32 {
        TensorBox.push(L, t, fresh: fresh)
        return 1
    }

    @discardableResult
    func push(_ m: Module) -> Int32 {
        ModuleBox.push(L, m)
        return 1
    }

    @discardableResult
    func push(_ v: Double) -> Int32 {
        lua_pushnumber(L, v)
        return 1
    }

    @discardableResult
    func push(integer v: Int) -> Int32 {
        lua_pushinteger(L, lua_Integer(v))
        return 1
    }

    @discardableResult
    func push(_ s: String) -> Int32 {
        pushString(L, s)
        return 1
    }

    @discardableResult
    func push(_ b: Bool) -> Int32 {
        lua_pushboolean(L, b ? 1 : 0)
        return 1
    }

    /// Pushes a list of integers (a shape).
    @discardableResult
    func push(list: [Int]) -> Int32 {
        lua_createtable(L, Int32(list.count), 0)
        for (k, v) in list.enumerated() {
            lua_pushinteger(L, lua_Integer(v))
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
        return 1
    }

    /// Returns `self` (argument 1) as the result, for in-place methods and chaining.
    func returnSelf() -> Int32 {
        lua_pushvalue(L, 1)
        return 1
    }
}

/// 1-based (or negative from the end) Lua dimension to a 0-based one.
func zeroBasedDimension(_ d: Int, rank: Int, _ makeError: (String) -> LuaError) throws -> Int {
    let r = max(rank, 1)
    if let p = zeroBasedPosition(d, count: r) { return p }
    throw makeError("dimension \(d) out of range for a tensor of \(rank) dimension\(rank == 1 ? "" : "s") (expected 1..\(r) or -\(r)..-1)")
}
