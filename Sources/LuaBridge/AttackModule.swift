import Attacks
import CLua
import CLuaShim
import Foundation
import Tensor

/// `smia.attack`: attack constructors (`AttackConstructors`) returning attack objects, and
/// `local x_adv, stats = a:run(model, x, y [, {clean_output = out}])`.
///
/// `model` is a module, or a Lua function x → output (logits (N, K), or (N, K, H, W) for a
/// segmenter). A module in training mode runs in eval mode during the attack and is put back.
/// `x` is (N, C, H, W) in [0, 1]; `y` the labels (N), or (N, H, W).
///
/// Detection: `model` is a detector (`smia.models.detector{...}`; the engine uses its
/// concatenated heads, (N, C + 4, H/4, W/4)), or any model with `task = "detection"` whose
/// output is that tensor; `y` is one list of boxes `{x1, y1, x2, y2, class}` per image (a table
/// for `y` also means detection). The loss is the detector's own (CenterNet) loss against the
/// boxes, ascended; an image counts as a success when none of its boxes is detected any more
/// (no detection of the default decoder of the same class with IoU >= 0.5; see
/// `DetectionTask`). Untargeted only. A Lua loss sees the boxes as `ctx.boxes` and, padded
/// with rows of class -1, as the tensor `ctx.y` (N, M, 5).
///
/// `stats` holds:
/// `success_rate`, the share of the images the model got right before the attack where the
/// attack succeeded (the convention of torchattacks and ART; absent when it got none right:
/// right means the predicted class is the label, a pixel accuracy of at least 0.5 for a
/// segmenter, at least one true box found for a detector), and `clean_correct`, how many
/// images that is; `clean_accuracy` and `accuracy` (after the attack), or for a segmenter
/// `clean_pixel_accuracy` and `pixel_accuracy`, or for a detector `clean_map50` and `map50`
/// (mAP at IoU 0.5 of the default decoder's detections), `clean_iou` and `iou` (the mean over
/// the true boxes of the best IoU with a detection of the same class, 0 without one),
/// `clean_recall` and `recall` (the mean over images of the share of boxes detected, per image
/// `sample_recall` instead of `sample_accuracy`); the means over images `linf`, `l2`, `l0`
/// (changed values) of η = x_adv − x; `var` (the variance of η per image, averaged);
/// `cos_mean` and `cos_positive` (cosine of consecutive updates, with `record = true`); `psnr`
/// (dB); `ssim` (images larger than 11×11); `forwards` and `gradients` (in images, the
/// attack's own work); `seconds`, `seconds_per_image`; `losses` (a list, per iteration);
/// per sample, `success` (0/1), `sample_clean_correct` (0/1: counted in `success_rate`),
/// `sample_accuracy`, `sample_linf`, `sample_l2`, `sample_l0`,
/// `sample_var`, `sample_psnr`, `sample_ssim`, `sample_cos_mean` and `sample_cos_positive`
/// (tensors (N); the cosines NaN for an image without any);
/// `updates` (a list of tensors, with `record = true`); `output`, the model's output on x_adv;
/// `name`, `task`.
///
/// An attack runs the model once per step and once more to score its result. The report's
/// clean figures need the model's output on x: the first step's when it starts from x, else
/// the scoring pass runs x and the result in one batch. `a:run(model, x, y, {clean_output =
/// out})` gives that output when the caller has it (smia.eval computes it once per batch); for a
/// detector it may be the table of heads `det(x)` returns.
enum AttackBindings {
    static let metatable = "smia.Attack"

    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, Int32(AttackConstructors.all.count))
        setFunctions(L, prefix: "attack.", AttackConstructors.all)
    }

    static func createMetatable(_ L: OpaquePointer) {
        luaL_newmetatable(L, metatable)
        setFunctions(L, prefix: "attack.mt.", [
            ("__tostring", { a in
                guard let spec = AttackBox.get(a.L, 1) else { return a.push("[released Attack]") }
                return a.push("smia.attack.\(spec.description)")
            }),
            ("__gc", { a in
                AttackBox.release(a.L, 1)
                return 0
            }),
        ])
        lua_createtable(L, 0, 2)
        setFunctions(L, prefix: "attack:", isMethod: true, [
            ("run", run),
            ("name", { a in a.push(try attack(a).name) }),
        ])
        lua_setfield(L, -2, "__index")
        smia_pop(L, 1)
    }

    private static func attack(_ a: LuaArgs) throws -> AttackSpec {
        guard let spec = AttackBox.get(a.L, 1) else { throw a.typeError(1, "attack") }
        return spec
    }

    // MARK: - Running

    private static func run(_ a: LuaArgs) throws -> Int32 {
        let L = a.L
        let spec = try attack(a)
        let op = spec.name
        guard a.type(2) == LUA_TFUNCTION || ModuleBox.get(L, 2) != nil else {
            throw a.typeError(2, "module or function")
        }
        let x = try a.tensor(3)
        try a.checkNoMore(than: 5)
        guard x.rank == 4, x.shape[0] >= 1 else {
            throw a.error(3, "expected images of size (N, C, H, W) with N >= 1, got \(describeShape(x.shape))")
        }
        // The model's output on x when the caller has it already (smia.eval computes it once per
        // batch for all its attacks): the report's clean figures come from it, and no pass of
        // the attack has to run the clean images for them.
        let givenCleanOutput = try cleanOutputOption(a, detector: ModuleBox.get(L, 2) as? Detector)
        if let given = givenCleanOutput {
            guard given.rank >= 1, given.shape[0] == x.shape[0] else {
                throw a.error(5, "clean_output must be the model's output on the \(x.shape[0]) images, got size \(describeShape(given.shape))")
            }
            guard !given.valueRange.hasNonFinite else { throw a.error(5, "clean_output contains NaN or infinite values") }
        }
        let range = x.valueRange
        guard !range.hasNonFinite else { throw a.error(3, "the images contain NaN or infinite values") }
        try checkRange(a, range)
        // Detection: a detector module, boxes as labels, or task = "detection".
        let detection = spec.task == .detection
            || (spec.task == nil && (ModuleBox.get(L, 2) is Detector || a.type(4) == LUA_TTABLE))
        if detection, a.type(4) == LUA_TTABLE, !(ModuleBox.get(L, 2) is Detector), spec.task == nil,
           firstEntryIsNumber(L, 4) {
            // A plain list of numbers is class labels given as a table, not boxes.
            throw a.error(4, "labels must be a tensor: class indices (N) for a classifier, (N, H, W) for a segmenter (smia.tensor.from{...} makes one from a list); a table is read as the boxes of a detector, one list of {x1, y1, x2, y2, class} per image")
        }
        let y: Tensor
        if detection {
            guard a.type(4) == LUA_TTABLE else {
                throw a.error(4, "list of boxes per image expected for a detector ({x1, y1, x2, y2, class} each), got \(luaTypeName(L, 4))")
            }
            let boxes = try BoxTables.read(a, 4, scored: false).map { $0.map(\.box) }
            guard boxes.count == x.shape[0] else {
                throw a.error(4, "expected \(x.shape[0]) lists of boxes (one per image), got \(boxes.count)")
            }
            guard spec.target == nil else { throw LuaError("\(op): targeted attacks are not defined for detection (option 'target')") }
            y = try DetectionLabels.tensor(boxes)
        } else {
            guard let labels = TensorBox.get(L, 4) else {
                throw a.error(4, "labels expected as a tensor: class indices (N) for a classifier, (N, H, W) for a segmenter, got \(luaTypeName(L, 4))")
            }
            y = labels
            guard y.rank >= 1, y.shape[0] == x.shape[0] else {
                throw a.error(4, "expected labels for \(x.shape[0]) images, got size \(describeShape(y.shape))")
            }
        }

        // The Lua values of this run: the attack's functions, the model function, ctx.state.
        lua_createtable(L, 0, 5)
        if lua_getiuservalue(L, 1, 1) == LUA_TTABLE {
            lua_pushnil(L)
            while lua_next(L, -2) != 0 {
                lua_pushvalue(L, -2)
                smia_insert(L, -2)
                lua_rawset(L, -5)
            }
        }
        smia_pop(L, 1)
        lua_pushvalue(L, 2)
        rawSetField(L, -2, "model")
        let callbacks = LuaCallbacks(L, owner: op)
        defer { callbacks.release() }

        let model: Module = ModuleBox.get(L, 2) ?? LuaFunctionModel(callbacks)
        let wasTraining = model.isTraining && !(model is LuaFunctionModel)
        if wasTraining { model.eval() }
        defer { if wasTraining { model.train(true) } }
        let view = AttackModelView(model, owner: op)
        defer { view.context = nil }
        let interrupted: () -> Bool = { smia_interrupt_pending() != 0 }

        let task: AttackTask
        if detection {
            task = .detection
        } else if case .dag = spec.engine {
            task = .segmentation
        } else {
            task = try spec.task ?? inferTask(labels: y, count: x.shape[0], a)
        }

        let (result, report, extra) = try withGradEnabled { () throws -> (AttackResult, AttackReport, Int) in
            // The model's output on the clean images, for the report: given by the caller, or
            // recorded as the first step's forward pass when the attack starts from the clean
            // images (here for a gradient attack; DAG returns its first pass's). Otherwise it
            // comes from the pass that scores the result, in one batch with the adversarial
            // images: either way an attack costs its steps and one more pass.
            var cleanForward: (images: Tensor, output: Tensor)?
            if case .gradient(let attack) = spec.engine, !attack.randomStart {
                let images = x.detached()
                images.requiresGrad = true
                cleanForward = (images, try model(images))
            }
            let cleanOutput = cleanForward.map { $0.output.detached() } ?? givenCleanOutput
            func check(clean output: Tensor) throws {
                try task.check(output: output, labels: y, op: op)
                if let target = spec.target { try task.check(output: output, labels: target, op: "\(op) (target)") }
            }
            if let cleanOutput { try check(clean: cleanOutput) }
            let labels = spec.target ?? y
            let extra = AttackCounters()
            var result: AttackResult
            switch spec.engine {
            case .gradient(var attack):
                attack.interrupted = interrupted
                attack.cleanForward = cleanForward
                attack.scoresCleanImages = cleanOutput == nil
                let hooks = LuaAttackHooks(callbacks: callbacks, spec: spec, view: view)
                if callbacks.has("step") {
                    let sizes = try hooks.schedule(steps: attack.steps)
                    attack.stepSize = { sizes[Swift.min(Swift.max($0, 1), sizes.count) - 1] }
                }
                if callbacks.has("on_step") {
                    attack.onStep = hooks.onStep(model: model, task: task, labels: labels, extra: extra)
                }
                if callbacks.has("loss") {
                    attack.loss = hooks.loss()
                    attack.companion = nil
                }
                result = try attack.run(model: model, task: task, images: x, labels: labels)
            case .deepfool(var attack):
                attack.interrupted = interrupted
                result = try attack.run(model: model, images: x, labels: labels)
            case .cw(var attack):
                attack.interrupted = interrupted
                result = try attack.run(model: model, images: x, labels: labels)
            case .apgd(var attack):
                attack.interrupted = interrupted
                attack.scoresCleanImages = cleanOutput == nil
                result = try attack.run(model: model, task: task, images: x, labels: labels)
            case .dag(var attack):
                attack.interrupted = interrupted
                result = task == .detection ? try attack.run(detector: model, images: x, labels: y)
                    : try attack.run(model: model, images: x, labels: y)
            }
            let clean: Tensor
            if let given = cleanOutput ?? result.cleanOutput {
                clean = given
            } else {
                // No pass of the attack ran the clean images: they ride in the scoring pass.
                let both = try withoutGrad { try forwardTogether(model, x, result.adversarial, op: op) }
                (clean, result.adversarialOutput) = (both.first, both.second)
            }
            if cleanOutput == nil { try check(clean: clean) }
            if result.adversarialOutput == nil {
                result.adversarialOutput = try withoutGrad { try model(result.adversarial) }
            }
            if let given = givenCleanOutput, let output = result.adversarialOutput, given.shape != output.shape {
                throw a.error(5, "clean_output must be the model's output on the \(x.shape[0]) images, of size \(describeShape(output.shape)), got \(describeShape(given.shape))")
            }
            let report = try AttackReport(model: model, task: task, clean: x, cleanOutput: clean, labels: y,
                                          targets: spec.target, result: result)
            return (result, report, extra.forwards)
        }
        a.push(result.adversarial)
        try pushStats(a, spec: spec, result: result, report: report, extraForwards: extra)
        return 2
    }

    /// `clean_output`: a tensor, or for a detector also the table of heads `det(x)` returns.
    private static func cleanOutputOption(_ a: LuaArgs, detector: Detector?) throws -> Tensor? {
        let options = try LuaOptions(a, 5, names: ["clean_output"])
        if let detector {
            let L = a.L
            defer { smia_pop(L, 1) }
            if options.pushValue("clean_output") == LUA_TTABLE {
                return try DetectorBindings.heads(a, at: lua_gettop(L), detector, argument: 5,
                                                  context: "option 'clean_output': ").concatenated()
            }
        }
        return try options.tensor("clean_output")
    }

    private static func firstEntryIsNumber(_ L: OpaquePointer, _ index: Int32) -> Bool {
        defer { smia_pop(L, 1) }
        return lua_rawgeti(L, index, 1) == LUA_TNUMBER
    }

    /// Every attack keeps images in [0, 1] (`IterativeAttack.range`): values outside it would be
    /// clipped silently at the first step, so they are refused with the likely cause.
    private static func checkRange(_ a: LuaArgs, _ range: ValueRange) throws {
        let (lo, hi) = (range.min, range.max)
        guard lo >= 0, hi <= 1 else {
            let hint = hi > 1 && hi <= 255 && lo >= 0 ? " (images in [0, 255] need x / 255)"
                : lo < 0 ? " (normalized images: give the model the normalization, e.g. simple_cnn's mean and std, and the attack images in [0, 1])" : ""
            throw a.error(3, "the attacks work on images with values in [0, 1], got values from \(lo) to \(hi)\(hint)")
        }
    }

    /// The task a model's labels imply when the attack does not name it: class indices (N) for
    /// a classifier, a class per pixel (N, H, W) for a segmenter.
    private static func inferTask(labels: Tensor, count: Int, _ a: LuaArgs) throws -> AttackTask {
        switch labels.rank {
        case 1: return .classification
        case 3: return .segmentation
        default:
            throw a.error(4, "expected labels of size \(count) (class indices, for a classifier) or \(count)xHxW (a class per pixel, for a segmenter), got \(describeShape(labels.shape))")
        }
    }

    private static func pushStats(_ a: LuaArgs, spec: AttackSpec, result: AttackResult, report: AttackReport,
                                  extraForwards: Int) throws {
        let L = a.L
        func set(_ name: String, _ value: Double) {
            lua_pushnumber(L, value)
            rawSetField(L, -2, name)
        }
        func set(_ name: String, _ values: [Float]) throws {
            TensorBox.push(L, try Tensor(shape: [values.count], storage: values))
            rawSetField(L, -2, name)
        }
        let n = report.success.count
        lua_createtable(L, 0, 28)
        pushString(L, spec.name)
        rawSetField(L, -2, "name")
        pushString(L, report.task.rawValue)
        rawSetField(L, -2, "task")
        if let rate = report.successRate { set("success_rate", Double(rate)) }
        lua_pushinteger(L, lua_Integer(report.cleanCorrectCount))
        rawSetField(L, -2, "clean_correct")
        switch report.task {
        case .classification:
            set("clean_accuracy", Double(report.cleanAccuracy))
            set("accuracy", Double(report.accuracy))
        case .segmentation:
            set("clean_pixel_accuracy", Double(report.cleanAccuracy))
            set("pixel_accuracy", Double(report.accuracy))
        case .detection:
            set("clean_recall", Double(report.cleanAccuracy))
            set("recall", Double(report.accuracy))
            for (name, value) in [("clean_map50", report.cleanMAP50), ("map50", report.map50),
                                  ("clean_iou", report.cleanBoxIoU), ("iou", report.boxIoU)] {
                if let value { set(name, Double(value)) }
            }
        }
        set("linf", Double(report.meanLinf))
        set("l2", Double(report.meanL2))
        set("l0", Double(report.l0))
        set("var", Double(report.variance))
        if let cos = report.consistency {
            set("cos_mean", Double(cos.mean))
            set("cos_positive", Double(cos.positive))
        }
        set("psnr", Double(report.psnr))
        if let ssim = report.ssim { set("ssim", Double(ssim)) }
        lua_pushinteger(L, lua_Integer(report.forwards + extraForwards))
        rawSetField(L, -2, "forwards")
        lua_pushinteger(L, lua_Integer(report.gradients))
        rawSetField(L, -2, "gradients")
        set("seconds", report.seconds)
        set("seconds_per_image", report.seconds / Double(max(n, 1)))
        try set("success", report.success.map { $0 ? 1 : 0 })
        try set(report.task == .detection ? "sample_recall" : "sample_accuracy", report.agreement)
        try set("sample_linf", report.linf)
        try set("sample_l2", report.l2)
        try set("sample_clean_correct", report.cleanCorrect.map { $0 ? 1 : 0 })
        try set("sample_l0", report.l0PerImage)
        try set("sample_var", report.variancePerImage)
        try set("sample_psnr", report.psnrPerImage)
        if let ssim = report.ssimPerImage { try set("sample_ssim", ssim) }
        TensorBox.push(L, report.output)
        rawSetField(L, -2, "output")
        if let cos = report.consistencyPerImage {
            try set("sample_cos_mean", cos.mean)
            try set("sample_cos_positive", cos.positive)
        }
        lua_createtable(L, Int32(result.losses.count), 0)
        for (k, loss) in result.losses.enumerated() {
            lua_pushnumber(L, Double(loss))
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
        rawSetField(L, -2, "losses")
        if spec.record {
            lua_createtable(L, Int32(result.updates.count), 0)
            for (k, update) in result.updates.enumerated() {
                TensorBox.push(L, update)
                lua_rawseti(L, -2, lua_Integer(k + 1))
            }
            rawSetField(L, -2, "updates")
        }
    }
}

/// Attack objects in Lua: a userdata holding the `AttackSpec`, with one user value, the table
/// of the options given as Lua functions.
enum AttackBox {
    private static let box = ObjectBox<AttackSpec>(metatable: AttackBindings.metatable)

    /// Pushes an attack for `spec`, copying its function options from the table at `options`.
    static func push(_ a: LuaArgs, _ spec: AttackSpec, options: Int32) {
        let L = a.L
        guard let slot = lua_newuserdatauv(L, MemoryLayout<UnsafeMutableRawPointer?>.size, 1) else {
            lua_pushnil(L)
            return
        }
        slot.storeBytes(of: Unmanaged.passRetained(spec).toOpaque(), as: UnsafeMutableRawPointer?.self)
        smia_getmetatable_named(L, AttackBindings.metatable)
        lua_setmetatable(L, -2)
        lua_createtable(L, 0, Int32(spec.functions.count))
        for name in spec.functions {
            rawGetField(L, options, name)
            rawSetField(L, -2, name)
        }
        _ = lua_setiuservalue(L, -2, 1)
    }

    static func get(_ L: OpaquePointer, _ index: Int32) -> AttackSpec? { box.get(L, index) }
    static func release(_ L: OpaquePointer, _ index: Int32) { box.release(L, index) }
}
