import CLua
import CLuaShim
import Tensor

/// `smia.optim`: optimizers over a list of parameter tensors (or a module's parameters),
/// stepped with gradients in the same order, as `smia.autograd.grad` gives them for
/// `m:parameters()`:
///
///     local opt = smia.optim.sgd(model, {lr = 0.1, momentum = 0.9})
///     local df = smia.autograd.grad(function(params, x, y) return nn.cross_entropy(model(x), y) end)
///     local grads, loss = df(opt:parameters(), x, y)
///     opt:step(grads)
///
/// `opt.lr` reads and sets the learning rate, `opt.steps` counts the steps taken. Schedules
/// (`smia.optim.schedule.step{...}`, `.cosine{...}`, `.warmup{...}`) are callable objects giving
/// the learning rate for a step (0 for the first): `opt.lr = s(opt.steps)`.
/// `clip_grad_norm(grads, max_norm)` and `clip_grad_value(grads, limit)` work in place.
/// There is no `zero_grad`: gradients are values returned by `grad`, not accumulated in fields.
enum OptimBindings {
    static func createMetatables(_ L: OpaquePointer) {
        luaL_newmetatable(L, OptimizerBox.metatable)
        setFunctions(L, prefix: "optimizer.mt.", optimizerMetamethods)
        lua_createtable(L, 0, Int32(optimizerMethods.count))
        setFunctions(L, prefix: "optimizer:", isMethod: true, optimizerMethods)
        lua_pushvalue(L, -1)
        pushFunction(L, key: "optimizer.mt.__index", name: "__index", upvalues: 1, optimizerIndex)
        lua_setfield(L, -3, "__index")
        lua_setfield(L, -2, "methods") // for completion and help, as the tensor's
        smia_pop(L, 1)

        luaL_newmetatable(L, ScheduleBox.metatable)
        setFunctions(L, prefix: "schedule.mt.", scheduleMetamethods)
        pushFunction(L, key: "schedule.mt.__call", name: "schedule", isMethod: true, callSchedule)
        lua_setfield(L, -2, "__call")
        smia_pop(L, 1)
    }

    /// Pushes the `smia.optim` table.
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 6)
        setFunctions(L, prefix: "optim.", functions)
        lua_createtable(L, 0, 3)
        setFunctions(L, prefix: "optim.schedule.", schedules)
        lua_setfield(L, -2, "schedule")
    }

    // MARK: - Optimizers

    static let functions: [(String, LuaBody)] = [
        ("sgd", { a in
            let params = try parameters(a, 1)
            let o = try LuaOptions(a, 2, names: ["lr", "momentum", "dampening", "nesterov", "weight_decay"], required: true)
            guard let lr = try o.number("lr") else { throw a.error(2, "option 'lr' is required") }
            return push(a, try SGD(parameters: params, learningRate: lr, momentum: Float(o.number("momentum", default: 0)),
                                   dampening: Float(o.number("dampening", default: 0)), nesterov: o.boolean("nesterov", default: false),
                                   weightDecay: Float(o.number("weight_decay", default: 0))))
        }),
        ("adam", { a in try adam(a, decoupled: false) }),
        ("adamw", { a in try adam(a, decoupled: true) }),
        ("clip_grad_norm", { a in
            let grads = try tensorList(a, 1, what: "gradients")
            try a.checkNoMore(than: 2)
            return a.push(Double(try clipGradNorm(grads, maxNorm: Float(a.notNaN(2)))))
        }),
        ("clip_grad_value", { a in
            let grads = try tensorList(a, 1, what: "gradients")
            try a.checkNoMore(than: 2)
            try clipGradValue(grads, limit: Float(a.notNaN(2)))
            return 0
        }),
    ]

    private static func adam(_ a: LuaArgs, decoupled: Bool) throws -> Int32 {
        let params = try parameters(a, 1)
        let o = try LuaOptions(a, 2, names: ["lr", "betas", "eps", "weight_decay", "amsgrad"])
        let betas = try o.numbers("betas", count: 2) ?? [0.9, 0.999]
        return push(a, try Adam(parameters: params, learningRate: o.number("lr", default: 1e-3),
                                beta1: Float(betas[0]), beta2: Float(betas[1]), eps: Float(o.number("eps", default: 1e-8)),
                                weightDecay: Float(o.number("weight_decay", default: (decoupled ? 1e-2 : 0))),
                                decoupled: decoupled, amsgrad: o.boolean("amsgrad", default: false)))
    }

    private static func push(_ a: LuaArgs, _ optimizer: Optimizer) -> Int32 {
        OptimizerBox.push(a.L, optimizer)
        return 1
    }

    /// A module (its parameters) or a list of tensors.
    private static func parameters(_ a: LuaArgs, _ i: Int32) throws -> [Tensor] {
        if let m = ModuleBox.get(a.L, i) { return m.namedParameters().map(\.tensor) }
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "module or list of parameter tensors") }
        let params = try tensorList(a, i, what: "parameter tensors")
        guard !params.isEmpty else { throw a.error(i, "expected at least one parameter tensor, got an empty list") }
        return params
    }

    /// The list of tensors at `i`: `{t1, t2, ...}` and nothing else.
    static func tensorList(_ a: LuaArgs, _ i: Int32, what: String) throws -> [Tensor] {
        let L = a.L
        guard a.type(i) == LUA_TTABLE else { throw a.typeError(i, "list of \(what)") }
        let n = Int(lua_rawlen(L, i))
        var tensors: [Tensor] = []
        tensors.reserveCapacity(n)
        for k in stride(from: 1, through: n, by: 1) {
            lua_rawgeti(L, i, lua_Integer(k))
            defer { smia_pop(L, 1) }
            guard let t = TensorBox.get(L, -1) else {
                throw a.error(i, "tensor expected at position \(k) of the \(what), got \(luaTypeName(L, -1))")
            }
            tensors.append(t)
        }
        var count = 0
        lua_pushnil(L)
        while lua_next(L, i) != 0 {
            smia_pop(L, 1)
            count += 1
        }
        guard count == n else { throw a.error(i, "expected a list of \(what) {t1, t2, ...}, got a table with other keys") }
        return tensors
    }

    static let optimizerMetamethods: [(String, LuaBody)] = [
        ("__tostring", { a in
            if OptimizerBox.isReleased(a.L, 1) { return a.push("[released optimizer]") }
            let o = try optimizer(a, 1)
            return a.push("\(o.typeName)(\(o.optionsDescription)) over \(o.parameters.count) parameter tensors")
        }),
        ("__gc", { a in
            OptimizerBox.release(a.L, 1)
            return 0
        }),
        ("__newindex", { a in
            let o = try optimizer(a, 1)
            guard a.type(2) == LUA_TSTRING, try a.string(2) == "lr" else {
                throw LuaError("cannot set field '\(stringValue(a.L, 2) ?? a.typeName(2))' of an optimizer (only lr)")
            }
            guard a.type(3) == LUA_TNUMBER else {
                throw LuaError("optimizer.lr: number expected, got \(a.typeName(3))")
            }
            try o.setLearningRate(lua_tonumberx(a.L, 3, nil))
            return 0
        }),
    ]

    /// `opt.method`, `opt.lr`, `opt.steps`.
    private static func optimizerIndex(_ a: LuaArgs) throws -> Int32 {
        let L = a.L
        if a.type(2) == LUA_TSTRING {
            lua_pushvalue(L, 2)
            if lua_rawget(L, a.upvalue(2)) != LUA_TNIL { return 1 }
            smia_pop(L, 1)
            let o = try optimizer(a, 1)
            switch try a.string(2) {
            case "lr": return a.push(o.learningRate)
            case "steps": return a.push(integer: o.stepCount)
            default: break
            }
        }
        lua_pushnil(L)
        return 1
    }

    static let optimizerMethods: [(String, LuaBody)] = [
        ("step", { a in
            let o = try optimizer(a, 1)
            let grads = try tensorList(a, 2, what: "gradients")
            try a.checkNoMore(than: 2)
            try o.step(grads)
            return a.returnSelf()
        }),
        ("parameters", { a in
            NNBindings.pushTensorList(a, try optimizer(a, 1).parameters)
            return 1
        }),
        ("type", { a in a.push(try optimizer(a, 1).typeName) }),
    ]

    private static func optimizer(_ a: LuaArgs, _ i: Int32) throws -> Optimizer {
        guard let o = OptimizerBox.get(a.L, i) else { throw a.typeError(i, "optimizer") }
        return o
    }

    // MARK: - Schedules

    static let schedules: [(String, LuaBody)] = [
        ("step", { a in
            let o = try LuaOptions(a, 1, names: ["lr", "step_size", "milestones", "gamma"], required: true)
            return push(a, try LearningRateSchedule.stepDecay(lr: required(o, "lr", a), every: o.integer("step_size"),
                                                              milestones: o.integers("milestones") ?? [],
                                                              gamma: o.number("gamma", default: 0.1)))
        }),
        ("cosine", { a in
            let o = try LuaOptions(a, 1, names: ["lr", "steps", "min"], required: true)
            guard let steps = try o.integer("steps") else { throw a.error(1, "option 'steps' is required") }
            return push(a, try LearningRateSchedule.cosine(lr: required(o, "lr", a), steps: steps, minimum: o.number("min", default: 0)))
        }),
        ("warmup", { a in
            let o = try LuaOptions(a, 1, names: ["steps", "after"], required: true)
            guard let steps = try o.integer("steps") else { throw a.error(1, "option 'steps' is required") }
            rawGetField(a.L, 1, "after")
            let given = ScheduleBox.get(a.L, -1)?.schedule
            let rate = a.type(-1) == LUA_TNUMBER ? lua_tonumberx(a.L, -1, nil) : nil
            let got = luaTypeName(a.L, -1)
            smia_pop(a.L, 1)
            let after: LearningRateSchedule
            if let given {
                after = given
            } else if let rate {
                after = try LearningRateSchedule.constant(rate)
            } else {
                throw a.error(1, "option 'after': schedule or learning rate expected, got \(got)")
            }
            return push(a, try LearningRateSchedule.warmup(steps: steps, then: after))
        }),
    ]

    private static func required(_ o: LuaOptions, _ name: String, _ a: LuaArgs) throws -> Double {
        guard let v = try o.number(name) else { throw a.error(1, "option '\(name)' is required") }
        return v
    }

    private static func push(_ a: LuaArgs, _ schedule: LearningRateSchedule) -> Int32 {
        ScheduleBox.push(a.L, ScheduleObject(schedule))
        return 1
    }

    /// `s(step)`: the learning rate for a step count >= 0.
    private static func callSchedule(_ a: LuaArgs) throws -> Int32 {
        guard let s = ScheduleBox.get(a.L, 1) else { throw a.typeError(1, "schedule") }
        let step = try a.integer(2)
        guard step >= 0 else { throw a.error(2, "step must be >= 0, got \(step)") }
        return a.push(s.schedule(step))
    }

    static let scheduleMetamethods: [(String, LuaBody)] = [
        ("__tostring", { a in
            guard let s = ScheduleBox.get(a.L, 1) else { return a.push("[released schedule]") }
            return a.push("schedule: \(s.schedule)")
        }),
        ("__gc", { a in
            ScheduleBox.release(a.L, 1)
            return 0
        }),
    ]
}

/// Optimizers in Lua.
enum OptimizerBox {
    static let metatable = "smia.Optimizer"
    private static let box = ObjectBox<Optimizer>(metatable: metatable)

    static func push(_ L: OpaquePointer, _ o: Optimizer) { box.push(L, o) }
    static func get(_ L: OpaquePointer, _ index: Int32) -> Optimizer? { box.get(L, index) }
    static func isReleased(_ L: OpaquePointer, _ index: Int32) -> Bool { box.isReleased(L, index) }
    static func release(_ L: OpaquePointer, _ index: Int32) { box.release(L, index) }
}

/// A schedule (a value) held by reference, for its userdata.
final class ScheduleObject {
    let schedule: LearningRateSchedule
    init(_ schedule: LearningRateSchedule) { self.schedule = schedule }
}

/// Learning-rate schedules in Lua: callable userdata.
enum ScheduleBox {
    static let metatable = "smia.Schedule"
    private static let box = ObjectBox<ScheduleObject>(metatable: metatable)

    static func push(_ L: OpaquePointer, _ s: ScheduleObject) { box.push(L, s) }
    static func get(_ L: OpaquePointer, _ index: Int32) -> ScheduleObject? { box.get(L, index) }
    static func release(_ L: OpaquePointer, _ index: Int32) { box.release(L, index) }
}
