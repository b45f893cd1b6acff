// The Lua state and what lua.c's `pmain` does with it: open the libraries and `smia`, build
// `arg`, honour LUA_INIT, run `-e`/`-l`, the script, then the REPL or standard input.
//
// Boundary rules (DESIGN.md): every call into Lua goes through `smia_host_docall` (lua_pcall
// with a traceback handler) or a loader that runs protected (`luaL_loadbufferx`,
// `luaL_loadfilex`). The host reads and writes globals with raw accesses only, so no
// metamethod, and so no Lua error, can run outside a protected call.

import CLua
import CLuaShim
import Glibc
import LuaBridge
import Tensor

let hostVersion = "smia-lua 0.1"

/// LUA_REGISTRYINDEX, which Swift does not import (a macro over a macro).
let luaRegistryIndex: Int32 = -Int32(LUAI_MAXSTACK) - 1000

final class LuaHost {
    let L: OpaquePointer
    /// Prefix of error messages: `argv[0]`, or nil in the REPL (as in lua.c).
    var programName: String?

    init?() {
        guard let state = luaL_newstate() else { return nil }
        L = state
    }

    private var closed = false

    /// Closes the state (running pending finalizers), as lua.c does before exiting.
    func close() {
        guard !closed else { return }
        closed = true
        lua_close(L)
    }

    deinit {
        close()
    }

    // MARK: - Running, the way lua.c's pmain does

    /// Runs the whole command line; returns the process exit status.
    func run(_ options: HostOptions) -> Int32 {
        programName = options.programName
        if options.showVersion { printVersion() }
        if options.ignoreEnvironment {
            // Tells the package library to ignore LUA_PATH and LUA_CPATH.
            lua_pushboolean(L, 1)
            lua_setfield(L, luaRegistryIndex, "LUA_NOENV") // the registry has no metatable
        }
        luaL_openlibs(L)
        openSmia(L)
        createArgTable(options)
        smia_host_gc_generational(L)
        if mayEnterEditor(options) { Completion.prepare(host: self) }
        if !options.ignoreEnvironment, handleLuaInit() != LUA_OK { return 1 }
        for action in options.actions {
            if runAction(action) != LUA_OK { return 1 }
        }
        if let index = options.scriptIndex,
           runScript(options, at: index) != LUA_OK {
            return 1
        }
        if options.interactive {
            REPL(host: self).run()
        } else if options.scriptIndex == nil && !options.hasExecute && !options.showVersion {
            if isatty(STDIN_FILENO) != 0 {
                printVersion()
                REPL(host: self).run()
            } else if runFile(nil) != LUA_OK {
                return 1
            }
        }
        return 0
    }

    /// Whether this run can end in the REPL on a terminal (the line editor and completion).
    private func mayEnterEditor(_ options: HostOptions) -> Bool {
        guard isatty(STDIN_FILENO) != 0 else { return false }
        return options.interactive
            || (options.scriptIndex == nil && !options.hasExecute && !options.showVersion)
    }

    func printVersion() {
        let lua = String(cString: smia_host_lua_copyright())
        writeOut("\(hostVersion) (\(lua))\n")
        writeOut("\(EngineConfiguration.summary)\n")
    }

    /// `arg`: the script at index 0, its arguments at 1..n, the interpreter and options below 0.
    private func createArgTable(_ options: HostOptions) {
        let argv = options.arguments
        let script = options.scriptIndex ?? 0
        lua_createtable(L, Int32(max(argv.count - script - 1, 0)), Int32(script + 1))
        for (i, argument) in argv.enumerated() {
            pushString(argument)
            lua_rawseti(L, -2, lua_Integer(i - script))
        }
        setGlobal("arg")
    }

    private func handleLuaInit() -> Int32 {
        var name = "LUA_INIT_5_4"
        var value = getenv(name)
        if value == nil {
            name = "LUA_INIT"
            value = getenv(name)
        }
        guard let raw = value else { return LUA_OK }
        let initCode = String(cString: raw)
        if initCode.hasPrefix("@") {
            return runFile(String(initCode.dropFirst()))
        }
        return runString(initCode, chunkName: "=" + name)
    }

    private func runAction(_ action: StartupAction) -> Int32 {
        switch action {
        case .execute(let code):
            return runString(code, chunkName: "=(command line)")
        case .require(let spec):
            return requireLibrary(spec)
        case .warningsOn:
            lua_warning(L, "@on", 0)
            return LUA_OK
        }
    }

    /// `-l mod`, `-l g=mod`, and `-l mod-v2` (global `mod`), as lua.c 5.4.6.
    private func requireLibrary(_ spec: String) -> Int32 {
        var globalName = spec
        var moduleName = spec
        if let equals = spec.firstIndex(of: "=") {
            globalName = String(spec[..<equals])
            moduleName = String(spec[spec.index(after: equals)...])
        } else if let mark = spec.firstIndex(of: "-") {
            globalName = String(spec[..<mark])
        }
        pushGlobal("require")
        pushString(moduleName)
        let status = smia_host_docall(L, 1, 1)
        if status == LUA_OK {
            setGlobal(globalName)
        }
        return report(status)
    }

    private func runScript(_ options: HostOptions, at index: Int) -> Int32 {
        let path: String? = options.scriptIsStandardInput ? nil : options.arguments[index]
        var status = load(file: path)
        if status == LUA_OK {
            switch pushScriptArguments() {
            case .success(let count):
                status = smia_host_docall(L, count, LUA_MULTRET)
            case .failure(let error):
                lua_settop(L, -2) // the chunk
                pushString(error.message)
                status = LUA_ERRRUN
            }
        }
        return report(status)
    }

    private struct ArgumentError: Error {
        let message: String
    }

    /// Pushes `arg[1]`..`arg[#arg]` (as lua.c's pushargs, with raw accesses).
    private func pushScriptArguments() -> Result<Int32, ArgumentError> {
        pushGlobal("arg")
        guard lua_type(L, -1) == LUA_TTABLE else {
            lua_settop(L, -2)
            return .failure(ArgumentError(message: "'arg' is not a table"))
        }
        let count = Int32(clamping: lua_rawlen(L, -1))
        guard lua_checkstack(L, count + 3) != 0 else {
            lua_settop(L, -2)
            return .failure(ArgumentError(message: "too many arguments to script"))
        }
        let table = lua_gettop(L)
        if count > 0 {
            for i in 1...count {
                lua_rawgeti(L, table, lua_Integer(i))
            }
        }
        lua_rotate(L, table, -1) // the table to the top...
        lua_settop(L, -2) // ...and off
        return .success(count)
    }

    // MARK: - Chunks

    func load(file path: String?) -> Int32 {
        guard let path else { return luaL_loadfilex(L, nil, nil) }
        return path.withCString { luaL_loadfilex(L, $0, nil) }
    }

    func load(_ code: [UInt8], chunkName: String) -> Int32 {
        code.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                luaL_loadbufferx(L, chars.baseAddress, chars.count, chunkName, nil)
            }
        }
    }

    /// Loads and runs a chunk, reporting any error; lua.c's dochunk.
    private func runChunk(loadStatus: Int32) -> Int32 {
        var status = loadStatus
        if status == LUA_OK {
            status = smia_host_docall(L, 0, 0)
        }
        return report(status)
    }

    func runFile(_ path: String?) -> Int32 {
        runChunk(loadStatus: load(file: path))
    }

    func runString(_ code: String, chunkName: String) -> Int32 {
        runChunk(loadStatus: load(Array(code.utf8), chunkName: chunkName))
    }

    // MARK: - Messages

    /// Prints the error message on the top of the stack (if `status` is an error) and pops it.
    @discardableResult
    func report(_ status: Int32) -> Int32 {
        if status != LUA_OK {
            if let name = programName { writeError("\(name): ") }
            writeError(stringBytes(at: -1) ?? Array(describeNonString(at: -1).utf8))
            writeError("\n")
            lua_settop(L, -2)
        }
        return status
    }

    private func describeNonString(at index: Int32) -> String {
        let type = String(cString: lua_typename(L, lua_type(L, index)))
        return "(error object is a \(type) value)"
    }

    // MARK: - Stack helpers (none of them can raise a Lua error, short of memory)

    func pushString(_ string: String) {
        var bytes = Array(string.utf8)
        bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = lua_pushlstring(L, chars.baseAddress, chars.count)
            }
        }
    }

    /// The bytes of the string (or number) at `index`, without metamethods.
    func stringBytes(at index: Int32) -> [UInt8]? {
        let type = lua_type(L, index)
        guard type == LUA_TSTRING || type == LUA_TNUMBER else { return nil }
        var length = 0
        guard let pointer = lua_tolstring(L, index, &length) else { return nil }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    func string(at index: Int32) -> String? {
        stringBytes(at: index).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Pushes `_G[name]` with a raw access.
    func pushGlobal(_ name: String) {
        lua_rawgeti(L, luaRegistryIndex, lua_Integer(LUA_RIDX_GLOBALS))
        pushString(name)
        lua_rawget(L, -2)
        lua_rotate(L, -2, -1)
        lua_settop(L, -2)
    }

    /// Pops a value into `_G[name]` with a raw access.
    func setGlobal(_ name: String) {
        lua_rawgeti(L, luaRegistryIndex, lua_Integer(LUA_RIDX_GLOBALS))
        pushString(name)
        lua_rotate(L, -3, -1) // globals, name, value
        lua_rawset(L, -3)
        lua_settop(L, -2)
    }
}

// MARK: - Output

func writeOut(_ text: String) {
    fputs(text, stdout)
    fflush(stdout)
}

func writeError(_ text: String) {
    fputs(text, stderr)
    fflush(stderr)
}

func writeError(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buffer in
        _ = fwrite(buffer.baseAddress, 1, buffer.count, stderr)
    }
    fflush(stderr)
}
