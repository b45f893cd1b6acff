import CLua
import CLuaShim
import Tensor

/// The Lua functions one attack run calls (loss, step schedule, on_step, a model given as a
/// function), in a table held in the registry for the run only. Calls go through the traceback
/// handler (DESIGN rule 2); a failure is thrown with the traceback appended to the message, so
/// `a:run` reports where in the loss it happened. After `release`, calls fail cleanly: a
/// `ctx.model` kept by a script past its run cannot reach a stale function.
final class LuaCallbacks {
    let L: OpaquePointer
    /// The attack's name, for messages.
    let owner: String
    private var reference: Int32?

    /// Takes the table on top of the stack (popped).
    init(_ L: OpaquePointer, owner: String) {
        self.L = L
        self.owner = owner
        reference = luaL_ref(L, smia_registryindex())
    }

    func release() {
        if let reference { luaL_unref(L, smia_registryindex(), reference) }
        reference = nil
    }

    /// Whether the table has a function under `name`.
    func has(_ name: String) -> Bool {
        guard let reference else { return false }
        lua_rawgeti(L, smia_registryindex(), lua_Integer(reference))
        let type = rawGetField(L, -1, name)
        smia_pop(L, 2)
        return type == LUA_TFUNCTION
    }

    /// Sets `table[name]` to the value on top of the stack (popped).
    func set(_ name: String) {
        guard let reference else {
            smia_pop(L, 1)
            return
        }
        lua_rawgeti(L, smia_registryindex(), lua_Integer(reference))
        smia_insert(L, -2)
        rawSetField(L, -2, name)
        smia_pop(L, 1)
    }

    /// Pushes `table[name]`.
    func push(_ name: String) {
        guard let reference else {
            lua_pushnil(L)
            return
        }
        lua_rawgeti(L, smia_registryindex(), lua_Integer(reference))
        rawGetField(L, -1, name)
        smia_remove(L, -2)
    }

    /// Calls the function `name` with the arguments `pushArguments` pushes (it returns their
    /// count), and hands its first result (at the top of the stack) to `read`.
    func call<R>(_ name: String, what: String, pushArguments: () throws -> Int32, read: () throws -> R) throws -> R {
        guard reference != nil else {
            throw LuaError("\(owner): \(what) was called after its attack run finished")
        }
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        guard lua_checkstack(L, 8) != 0 else { throw LuaError("\(owner): Lua stack overflow") }
        push(name)
        guard lua_type(L, -1) == LUA_TFUNCTION else {
            throw LuaError("\(owner): \(what) must be a function, got \(luaTypeName(L, -1))")
        }
        let nargs = try pushArguments()
        do {
            try callProtected(L, nargs: nargs, nresults: 1)
        } catch let error as LuaScriptError {
            guard error.objectReference == nil, !error.traceback.isEmpty else { throw error }
            throw LuaScriptError(message: "\(error.message)\n\(error.traceback)", traceback: "")
        }
        return try read()
    }
}

/// A model given to an attack as a Lua function x → output.
final class LuaFunctionModel: Module {
    let callbacks: LuaCallbacks

    init(_ callbacks: LuaCallbacks) {
        self.callbacks = callbacks
    }

    override var typeName: String { "function" }

    override func forward(_ x: Tensor) throws -> Tensor {
        let L = callbacks.L
        return try callbacks.call("model", what: "the model function", pushArguments: {
            TensorBox.push(L, x)
            return 1
        }, read: {
            guard let output = TensorBox.get(L, -1) else {
                throw LuaError("\(callbacks.owner): the model function must return a tensor, got \(luaTypeName(L, -1))")
            }
            return output
        })
    }
}
