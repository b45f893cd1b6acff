import CLua
import CLuaShim
import Tensor

/// The body of a Lua-callable function: reads its arguments from `args`, pushes its results and
/// returns how many. A thrown error becomes a Lua error raised by the C trampoline.
typealias LuaBody = (LuaArgs) throws -> Int32

/// Dispatch results understood by the trampoline (see `smia_shim.h`).
private let dispatchError: Int32 = -1
private let dispatchErrorRaw: Int32 = -2

/// An error for the script: raised in Lua with the message, after the caller's position.
struct LuaError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// A failure of Lua code that Swift called (a loss function given to `grad`): the error message
/// as Lua produced it and the traceback recorded where it happened.
public struct LuaScriptError: Error, CustomStringConvertible {
    public let message: String
    public let traceback: String
    /// An error object that is not a string (a table, nil, a number) kept in the registry, so the
    /// bridge raises it again unchanged. Taken back by the bridge or by `LuaState`.
    var objectReference: Int32? = nil
    public var description: String { traceback.isEmpty ? message : "\(message)\n\(traceback)" }

    init(message: String, traceback: String, objectReference: Int32? = nil) {
        self.message = message
        self.traceback = traceback
        self.objectReference = objectReference
    }

    /// Pushes the original error object (the message when it was a string), freeing its reference.
    func pushObject(_ L: OpaquePointer) {
        guard let ref = objectReference else {
            pushString(L, message)
            return
        }
        lua_rawgeti(L, smia_registryindex(), lua_Integer(ref))
        luaL_unref(L, smia_registryindex(), ref)
    }

    /// The same error without its registry reference (freed), for callers outside the bridge.
    func released(_ L: OpaquePointer) -> LuaScriptError {
        if let ref = objectReference { luaL_unref(L, smia_registryindex(), ref) }
        return LuaScriptError(message: message, traceback: traceback)
    }
}

/// Every Lua-callable function of the bridge, by id. The one C trampoline carries the id in its
/// first upvalue and comes here. Functions are registered once per key (`tensor.zeros`), so
/// opening several Lua states shares the table.
enum LuaRegistry {
    struct Entry {
        let name: String
        let isMethod: Bool
        let body: LuaBody
    }

    nonisolated(unsafe) private static var entries: [Entry] = []
    nonisolated(unsafe) private static var ids: [String: Int32] = [:]
    nonisolated(unsafe) private static var installed = false

    /// The id of the function registered under `key`, registering `body` the first time.
    static func id(key: String, name: String, isMethod: Bool, body: @escaping LuaBody) -> Int32 {
        if let id = ids[key] { return id }
        let id = Int32(entries.count)
        entries.append(Entry(name: name, isMethod: isMethod, body: body))
        ids[key] = id
        return id
    }

    static func installDispatcher() {
        guard !installed else { return }
        installed = true
        smia_set_dispatcher { L, id in
            guard let L else { return dispatchError }
            return LuaRegistry.dispatch(L, Int(id))
        }
    }

    private static func dispatch(_ L: OpaquePointer, _ id: Int) -> Int32 {
        guard id >= 0, id < entries.count else {
            pushString(L, "smia: unknown native function #\(id)")
            return dispatchError
        }
        NativeMemory.collectIfDue(L)
        let entry = entries[id]
        let args = LuaArgs(L, name: entry.name, isMethod: entry.isMethod)
        do {
            return try entry.body(args)
        } catch let error as LuaError {
            pushString(L, error.message)
            return dispatchError
        } catch let error as LuaScriptError {
            // Came out of Lua code: raised unchanged, its position already in it.
            error.pushObject(L)
            return dispatchErrorRaw
        } catch let error as TensorError {
            pushString(L, error.message)
            return dispatchError
        } catch {
            pushString(L, "\(entry.name): \(error)")
            return dispatchError
        }
    }
}

/// Pushes a native function: the trampoline for `key`. The `upvalues` values on top of the stack
/// become its upvalues 2, 3, ... (`LuaArgs.upvalue`).
func pushFunction(_ L: OpaquePointer, key: String, name: String, isMethod: Bool = false, upvalues: Int32 = 0,
                  _ body: @escaping LuaBody) {
    let id = LuaRegistry.id(key: key, name: name, isMethod: isMethod, body: body)
    smia_push_function(L, id, upvalues)
}

/// Sets `functions` as fields of the table on top of the stack. `prefix` makes the keys unique
/// (`tensor.`, `tensor:`); the Lua name is the field name.
func setFunctions(_ L: OpaquePointer, prefix: String, isMethod: Bool = false, _ functions: [(String, LuaBody)]) {
    for (name, body) in functions {
        pushFunction(L, key: prefix + name, name: name, isMethod: isMethod, body)
        lua_setfield(L, -2, name)
    }
}

/// Calls the function below `nargs` arguments through the traceback handler. Results stay on the
/// stack; a failure pops the error and throws it.
func callProtected(_ L: OpaquePointer, nargs: Int32, nresults: Int32) throws {
    let status = smia_pcall_traceback(L, nargs, nresults)
    guard status == LUA_OK else {
        let message = errorMessage(L, at: -2)
        let traceback = stringValue(L, -1) ?? ""
        smia_pop(L, 1)
        // Strings travel as the message; any other error object is kept to be raised unchanged.
        if lua_type(L, -1) == LUA_TSTRING {
            smia_pop(L, 1)
            throw LuaScriptError(message: message, traceback: traceback)
        }
        throw LuaScriptError(message: message, traceback: traceback, objectReference: luaL_ref(L, smia_registryindex()))
    }
}

/// The text of an error object: strings and numbers as they are, others described as `lua.c` does.
func errorMessage(_ L: OpaquePointer, at index: Int32) -> String {
    let t = lua_type(L, index)
    if t == LUA_TSTRING || t == LUA_TNUMBER {
        return stringValue(L, index) ?? ""
    }
    return "(error object is a \(luaTypeName(L, index)) value)"
}

// MARK: - Small stack helpers that cannot raise (other than running out of memory).

func pushString(_ L: OpaquePointer, _ s: String) {
    var s = s
    s.withUTF8 { buffer in
        buffer.withMemoryRebound(to: CChar.self) { chars in
            _ = lua_pushlstring(L, chars.baseAddress, chars.count)
        }
    }
}

/// The string at `index` when it is a string or a number (a number is formatted from a copy,
/// since `lua_tolstring` would turn the stack slot itself into a string).
func stringValue(_ L: OpaquePointer, _ index: Int32) -> String? {
    let t = lua_type(L, index)
    guard t == LUA_TSTRING || t == LUA_TNUMBER else { return nil }
    lua_pushvalue(L, index)
    defer { smia_pop(L, 1) }
    var length = 0
    guard let chars = lua_tolstring(L, -1, &length) else { return nil }
    return chars.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }
}

/// The integer at `index`: a number with an exact integer value (not a numeric string), or nil.
func integerValue(_ L: OpaquePointer, _ index: Int32) -> Int? {
    guard lua_type(L, index) == LUA_TNUMBER else { return nil }
    var isInteger: Int32 = 0
    let v = lua_tointegerx(L, index, &isInteger)
    return isInteger != 0 ? Int(exactly: v) : nil
}

/// A 1-based position (negative from the end: -1 is the last) among `n`, 0-based; nil when
/// out of range.
func zeroBasedPosition(_ p: Int, count n: Int) -> Int? {
    if p >= 1 && p <= n { return p - 1 }
    if p < 0 && p >= -n { return n + p }
    return nil
}

/// The type of the value at `index` as messages show it: `tensor` and `module` for ours.
func luaTypeName(_ L: OpaquePointer, _ index: Int32) -> String {
    let t = lua_type(L, index)
    if t == LUA_TUSERDATA {
        if luaL_testudata(L, index, TensorBox.metatable) != nil {
            return TensorBox.isReleased(L, index) ? "released tensor" : "tensor"
        }
        if luaL_testudata(L, index, ModuleBox.metatable) != nil {
            return ModuleBox.isReleased(L, index) ? "released module" : "module"
        }
        if luaL_testudata(L, index, DataBindings.metatable) != nil { return "dataset" }
        if luaL_testudata(L, index, OptimizerBox.metatable) != nil { return "optimizer" }
        if luaL_testudata(L, index, ScheduleBox.metatable) != nil { return "schedule" }
    }
    if t == LUA_TLIGHTUSERDATA { return "light userdata" }
    return String(cString: lua_typename(L, t))
}
