import CLua
import CLuaShim
import Foundation
import Tensor

/// Installs the `smia` module into a Lua state: the global `smia`, and `require("smia")`
/// returning the same table. The host calls this once after `luaL_openlibs`.
///
/// `smia.tensor`, `smia.nn`, `smia.models`, `smia.autograd`, `smia.io`, `smia.report`, `smia.image`,
/// `smia.data`, `smia.metrics`, `smia.attack`, `smia.optim`, and in Lua (Sources/LuaBridge/Lua)
/// `smia.train` and `smia.eval`; and at the top:
/// `smia.clock()` (wall-clock seconds), `smia.seed(n)` (parameter initialization, dropout and
/// random tensors made without a seed), `smia.no_grad(fn, ...)` (runs `fn(...)` without recording
/// and returns its results), `smia.memory()` (resident bytes of the process, bytes in use by
/// Lua, native bytes of the tensors Lua holds) and `smia.gc_threshold([bytes])` (growth of those
/// native bytes that forces a full collection; returns the previous value); `smia.system()`
/// ({threads, blas, kernel}: the cores kernels use, OpenBLAS's configuration and CPU kernel);
/// `smia.stop_on_signals()` (from then on SIGINT and SIGTERM only set a flag, a second one ends
/// the process) and `smia.stop_requested()` (whether one came: long loops, such as smia.eval's
/// batches, end early to save what is done);
/// `smia.config()` (ConfigBinding: the BLAS kernel, who chose it, threads, CPU features).
/// `smia.options_read(f, ...)` (the option tables the constructors called by `f(...)` read: see
/// `OptionCatalog`).
public func openSmia(_ L: OpaquePointer) {
    LuaRegistry.installDispatcher()
    TensorBindings.createMetatable(L)
    NNBindings.createMetatable(L)
    AttackBindings.createMetatable(L)
    OptimBindings.createMetatables(L)

    lua_createtable(L, 0, 16)
    setFunctions(L, prefix: "smia.", topLevel)
    for (name, open) in submodules {
        open(L)
        lua_setfield(L, -2, name)
    }

    // package.loaded.smia = smia, so require finds it.
    lua_getglobal(L, "package")
    lua_getfield(L, -1, "loaded")
    lua_pushvalue(L, -3)
    lua_setfield(L, -2, "smia")
    smia_pop(L, 2)
    lua_pushvalue(L, -1)
    lua_setglobal(L, "smia")

    for (name, code) in luaLibraries { runLibrary(L, name: name, code: code) }
    smia_pop(L, 1)
}

/// The native submodules, each pushed by its binding file and stored as `smia.<name>`.
private let submodules: [(String, (OpaquePointer) -> Void)] = [
    ("tensor", TensorBindings.open), ("nn", NNBindings.open), ("models", ModelsBindings.open),
    ("autograd", AutogradBindings.open), ("io", IOBindings.open), ("report", ReportBindings.open),
    ("image", ImageBindings.open), ("data", DataBindings.open), ("metrics", MetricsBindings.open),
    ("attack", AttackBindings.open), ("optim", OptimBindings.open),
]

/// The parts of `smia` written in Lua (Sources/LuaBridge/Lua, compiled into the binary), run in
/// this order with the `smia` table and the tensor and module metatables as arguments.
private let luaLibraries: [(String, [UInt8])] = [
    ("prelude", PackageResources.prelude_lua),
    ("train", PackageResources.train_lua),
    ("json", PackageResources.json_lua),
    ("per_image", PackageResources.per_image_lua),
    ("eval_plan", PackageResources.eval_plan_lua),
    ("eval", PackageResources.eval_lua),
    ("reference", PackageResources.reference_lua),
    ("help", PackageResources.help_lua),
    ("show", PackageResources.show_lua),
]

/// Runs one Lua library chunk with the `smia` table (on top of the stack). The chunks are part
/// of the program: a failure is a bug, reported on stderr.
private func runLibrary(_ L: OpaquePointer, name: String, code: [UInt8]) {
    let status = code.withUnsafeBufferPointer { buffer in
        buffer.baseAddress.map { base in
            base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { smia_load_string(L, $0, buffer.count, "=smia.\(name)") }
        } ?? LUA_ERRSYNTAX
    }
    guard status == LUA_OK else {
        FileHandle.standardError.write(Data("smia: \(name).lua: \(errorMessage(L, at: -1))\n".utf8))
        smia_pop(L, 1)
        return
    }
    lua_pushvalue(L, -2)
    smia_getmetatable_named(L, TensorBox.metatable)
    smia_getmetatable_named(L, ModuleBox.metatable)
    do {
        try callProtected(L, nargs: 3, nresults: 0)
    } catch {
        FileHandle.standardError.write(Data("smia: \(name).lua: \(error)\n".utf8))
    }
}

private let topLevel: [(String, LuaBody)] = [
    ("config", configFunction),
    ("clock", { a in
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return a.push(Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9)
    }),
    ("seed", { a in
        let s = UInt64(bitPattern: Int64(try a.integer(1)))
        ParameterInit.seed(s)
        BridgeRandom.seed(s)
        return 0
    }),
    ("no_grad", { a in
        try a.checkFunction(1)
        try withoutGrad { try callProtected(a.L, nargs: a.count - 1, nresults: LUA_MULTRET) }
        return lua_gettop(a.L)
    }),
    ("is_terminal", { a in
        let fd = try a.integer(1)
        guard (0...2).contains(fd) else { throw a.error(1, "expected 0 (stdin), 1 (stdout) or 2 (stderr), got \(fd)") }
        return a.push(isatty(Int32(fd)) == 1)
    }),
    ("system", { a in
        lua_createtable(a.L, 0, 3)
        a.push(integer: BLASInfo.threads)
        rawSetField(a.L, -2, "threads")
        pushString(a.L, BLASInfo.config)
        rawSetField(a.L, -2, "blas")
        pushString(a.L, BLASInfo.core)
        rawSetField(a.L, -2, "kernel")
        return 1
    }),
    ("stop_on_signals", { _ in
        smia_stop_signals_install()
        return 0
    }),
    ("stop_requested", { a in a.push(smia_stop_requested() != 0) }),
    ("memory", { a in
        a.push(Double(NativeMemory.residentBytes() ?? 0))
        a.push(Double(smia_gc_count_kb(a.L)) * 1024)
        a.push(Double(NativeMemory.heldBytes))
        return 3
    }),
    ("options_read", OptionCatalog.read),
    ("gc_threshold", { a in
        let previous = NativeMemory.threshold
        if let bytes = try a.optionalInteger(1) {
            guard bytes > 0 else { throw a.error(1, "threshold must be positive, got \(bytes)") }
            NativeMemory.threshold = bytes
        }
        return a.push(integer: previous)
    }),
]

