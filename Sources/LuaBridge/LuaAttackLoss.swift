import Attacks
import CLua
import CLuaShim
import Tensor

/// The model as a Lua loss sees it (`ctx.model`): its forward passes count in the attack's
/// statistics, and it works during its run only.
final class AttackModelView: Module {
    let model: Module
    let owner: String
    var context: AttackContext?

    init(_ model: Module, owner: String) {
        self.model = model
        self.owner = owner
    }

    override var typeName: String { "AttackModel" }

    override func forward(_ x: Tensor) throws -> Tensor {
        guard let context else { throw TensorError("\(owner): ctx.model was used after its attack run finished") }
        return try context.forward(x)
    }
}

/// The Lua side of a run of `smia.attack.iterative` and of the Lua options of the gradient
/// attacks: the loss, the step schedule, `on_step`.
struct LuaAttackHooks {
    let callbacks: LuaCallbacks
    let spec: AttackSpec
    let view: AttackModelView

    private var L: OpaquePointer { callbacks.L }

    /// `step` as a function, evaluated for every iteration before the run (it depends on the
    /// iteration only), so the engine's schedule cannot fail half-way.
    func schedule(steps: Int) throws -> [Float] {
        try (1...steps).map { iteration in
            try callbacks.call("step", what: "the step function", pushArguments: {
                lua_pushinteger(L, lua_Integer(iteration))
                return 1
            }, read: {
                let value = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumberx(L, -1, nil) : .nan
                guard value > 0, value.isFinite else {
                    let got = lua_type(L, -1) == LUA_TNUMBER ? "\(value)" : luaTypeName(L, -1)
                    throw LuaError("\(spec.name): the step function must return a positive number, got \(got) for iteration \(iteration)")
                }
                return Float(value)
            })
        }
    }

    /// `on_step(info)`: false stops the run. `success` costs a forward pass, counted in `extra`.
    func onStep(model: Module, task: AttackTask, labels: Tensor, extra: AttackCounters) -> (Int, Tensor, Float) throws -> Bool {
        { iteration, adversarial, loss in
            let output = try withoutGrad { try model(adversarial) }
            extra.forwards += adversarial.shape[0]
            let success = try task.success(output, labels: labels, targeted: spec.targeted)
            let fraction = Double(success.filter { $0 }.count) / Double(max(success.count, 1))
            return try callbacks.call("on_step", what: "on_step", pushArguments: {
                lua_createtable(L, 0, 4)
                lua_pushinteger(L, lua_Integer(iteration))
                rawSetField(L, -2, "iteration")
                lua_pushnumber(L, Double(loss))
                rawSetField(L, -2, "loss")
                lua_pushnumber(L, fraction)
                rawSetField(L, -2, "success")
                TensorBox.push(L, adversarial)
                rawSetField(L, -2, "x_adv")
                return 1
            }, read: {
                !(lua_type(L, -1) == LUA_TBOOLEAN && lua_toboolean(L, -1) == 0)
            })
        }
    }

    /// The loss of `smia.attack.iterative`: `loss(ctx)` with
    /// - `ctx.model` (counted), `ctx.x` (clean), `ctx.x_adv` (the current images, whose
    ///   gradient the engine takes), `ctx.output` (the model's output on `ctx.x_adv`, recorded),
    ///   `ctx.previous` (the images before the last update), `ctx.y` (the labels, or the targets
    ///   of a targeted attack; for a detector the boxes as a tensor (N, M, 5) padded with rows
    ///   of class -1, and `ctx.boxes` the lists of boxes per image), `ctx.targeted`, `ctx.task`,
    ///   `ctx.iteration` (1-based),
    ///   `ctx.eps` (a number or the per-sample tensor),
    /// - `ctx.state`: a table kept across the iterations of one run (fresh at iteration 1).
    /// It returns a scalar tensor, or one loss per sample (N), summed, so the samples do not
    /// interact. A targeted attack's loss is the script's to sign.
    func loss() -> AttackLoss {
        { context in
            view.context = context
            if context.iteration == 1 {
                lua_createtable(L, 0, 0)
                callbacks.set("state")
            }
            let objective = try callbacks.call("loss", what: "the loss", pushArguments: {
                pushContext(context)
                return 1
            }, read: { () throws -> Tensor in
                guard let t = TensorBox.get(L, -1) else {
                    throw LuaError("\(spec.name): the loss function must return a tensor, got \(luaTypeName(L, -1))")
                }
                return t
            })
            let n = context.current.shape[0]
            guard objective.count == 1 || objective.shape == [n] else {
                throw LuaError("\(spec.name): the loss function must return a scalar tensor or one loss per sample (size \(n)), got size \(describeShape(objective.shape))")
            }
            // A loss built from ctx.x (or outside the recording) has a zero gradient: the attack
            // would change nothing.
            guard objective.needsGrad, objective.dependsOn(context.current) else {
                throw LuaError("\(spec.name): the loss does not depend on ctx.x_adv (build it from ctx.output or ctx.model(ctx.x_adv), not from ctx.x, and outside no_grad)")
            }
            return objective.count == 1 ? objective : objective.sum()
        }
    }

    private func pushContext(_ context: AttackContext) {
        lua_createtable(L, 0, 12)
        ModuleBox.push(L, view)
        rawSetField(L, -2, "model")
        for (name, tensor) in [("x", context.clean), ("x_adv", context.current), ("output", context.output),
                               ("previous", context.previous), ("y", context.labels)] {
            TensorBox.push(L, tensor, fresh: false)
            rawSetField(L, -2, name)
        }
        lua_pushinteger(L, lua_Integer(context.iteration))
        rawSetField(L, -2, "iteration")
        if let radii = spec.perSampleEps {
            TensorBox.push(L, radii, fresh: false)
        } else {
            lua_pushnumber(L, Double(spec.eps))
        }
        rawSetField(L, -2, "eps")
        lua_pushboolean(L, context.targeted ? 1 : 0)
        rawSetField(L, -2, "targeted")
        pushString(L, context.task.rawValue)
        rawSetField(L, -2, "task")
        if context.task == .detection, let boxes = try? DetectionLabels.boxes(context.labels) {
            BoxTables.push(L, perImage: boxes)
            rawSetField(L, -2, "boxes")
        }
        callbacks.push("state")
        rawSetField(L, -2, "state")
    }
}
