import CLua
import CLuaShim

/// A Lua state with the standard libraries and `smia` open: what tests (and embedders that need
/// nothing more) use. Runs chunks through the traceback handler and throws `LuaScriptError`.
public final class LuaState {
    public let L: OpaquePointer

    public init?() {
        guard let L = luaL_newstate() else { return nil }
        self.L = L
        luaL_openlibs(L)
        openSmia(L)
    }

    deinit { lua_close(L) }

    /// Runs a file as a script; `arguments` become the global `arg` (`arg[0]` is the path).
    public func run(file path: String, arguments: [String] = []) throws {
        lua_createtable(L, Int32(arguments.count), 1)
        for (i, s) in ([path] + arguments).enumerated() {
            pushString(L, s)
            lua_rawseti(L, -2, lua_Integer(i))
        }
        lua_setglobal(L, "arg")
        guard smia_load_file(L, path) == LUA_OK else {
            defer { smia_pop(L, 1) }
            throw LuaScriptError(message: errorMessage(L, at: -1), traceback: "")
        }
        try call()
    }

    /// Runs a chunk of Lua source.
    public func run(_ code: String, name: String = "=(string)") throws {
        let status = code.withCString { smia_load_string(L, $0, code.utf8.count, name) }
        guard status == LUA_OK else {
            defer { smia_pop(L, 1) }
            throw LuaScriptError(message: errorMessage(L, at: -1), traceback: "")
        }
        try call()
    }

    /// Runs the loaded chunk on top of the stack.
    private func call() throws {
        do {
            try callProtected(L, nargs: 0, nresults: 0)
        } catch let error as LuaScriptError {
            throw error.released(L)
        }
    }
}
