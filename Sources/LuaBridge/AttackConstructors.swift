import Attacks
import Tensor

/// The constructors of `smia.attack`, each taking one table of named options and checking every
/// value at construction. Options shared by the gradient attacks (fgsm, bim, pgd, mifgsm, smia,
/// dev, iterative):
/// - `eps` (8/255): the L∞ radius, or a tensor of N radii (one per image);
/// - `targeted`, `target` (labels (N), or (N, H, W) for a segmenter): reach `target`; `target`
///   alone implies `targeted = true`;
/// - `mask`: a tensor broadcast to the images, 1 where pixels may change;
/// - `early_stop` (false): stop changing an image once the attack succeeded on it;
/// - `on_step = function(info)`: after each iteration, with `info.iteration`, `info.loss`,
///   `info.success` (fraction of images where the attack succeeded, one extra forward pass)
///   and `info.x_adv`; returning `false` stops the run;
/// - `record` (false): keep every update, for the Cos figure and `stats.updates`;
/// - `task` ("classification", "segmentation" or "detection"): by default detection for a
///   detector module or boxes as labels, else inferred from the rank of the model's output;
/// and, for the iterative ones, `step` (eps/4; with per-sample eps, the largest eps/4): a number
/// or a function of the 1-based iteration returning one; `steps` (10); `random_start` (false,
/// true for pgd); `restarts` (1); `seed` (0, for the random start).
enum AttackConstructors {
    static let common = ["eps", "targeted", "target", "mask", "early_stop", "on_step", "record", "task"]
    static let iterativeOptions = common + ["step", "steps", "random_start", "restarts", "seed"]
    static let smiaOptions = iterativeOptions + ["kernel_size", "sigma", "detach_target", "hard_target", "smooth", "projection"]

    static let all: [(String, LuaBody)] = [
        /// `fgsm{eps}`: one sign step of size eps.
        ("fgsm", { a in
            var o = try AttackOptionReader(a, names: common)
            let (eps, perSample) = try o.radius("eps", default: 8 / 255)
            var attack = GradientAttacks.fgsm(eps: eps)
            attack.perSampleEps = perSample
            return try push(a, gradient(&o, attack, eps: eps, perSample: perSample))
        }),
        /// `bim{eps, step, steps}`: iterative FGSM in the L∞ ball, no random start.
        ("bim", { a in
            var o = try AttackOptionReader(a, names: common + ["step", "steps"])
            return try push(a, iterative(&o) { eps, step, steps in GradientAttacks.bim(eps: eps, step: step, steps: steps) })
        }),
        /// `pgd{eps, step, steps, random_start = true, norm = "linf"|"l2", restarts}`; with
        /// `norm = "l2"`, eps defaults to 0.5 and steps are along g/||g||₂.
        ("pgd", { a in
            var o = try AttackOptionReader(a, names: iterativeOptions + ["norm"])
            let norm: Projection = try o.choice("norm", ["linf", "l2"], default: "linf") == "l2" ? .l2 : .linf
            return try push(a, iterative(&o, defaultEps: norm == .l2 ? 0.5 : 8 / 255, randomStart: true) { eps, step, steps in
                GradientAttacks.pgd(eps: eps, step: step, steps: steps, norm: norm)
            })
        }),
        /// `mifgsm{eps, step, steps, decay = 1}`: sign steps on the accumulated normalized gradient.
        ("mifgsm", { a in
            var o = try AttackOptionReader(a, names: iterativeOptions + ["decay"])
            let decay = try o.number("decay", default: 1, minimum: 0)
            return try push(a, iterative(&o) { eps, step, steps in GradientAttacks.mifgsm(eps: eps, step: step, steps: steps, decay: decay) })
        }),
        /// `smia{eps, step, steps, alpha = 1, kernel_size = 5, sigma = 1, detach_target = false,
        /// hard_target = false, smooth = "accumulated"|"last_step", projection = "linf"|"none"}`:
        /// the defaults of docs/api.md. `smooth = "last_step"` targets f(x + W∗(x̃ − x̃_prev)), the
        /// clean image plus the blurred last update: not what the authors' code does (that is
        /// `variant = "official"`).
        /// `smia{variant = "official", step, steps, alpha = 1, kernel = "gaussian"|"gkern",
        /// kernel_size = 3, sigma = 1, projection = "none"|"linf", eps}`: the authors' released
        /// code (`GradientAttacks.smiaOfficial`, docs/smia_official.md): a hard target on
        /// x̃_prev + W∗(step·sign g), no projection unless asked for.
        ("smia", { a in
            if try variant(a) == "official" { return try push(a, smiaOfficial(a)) }
            var o = try AttackOptionReader(a, names: smiaOptions + ["alpha", "variant"])
            var options = SMIAOptions()
            options.alpha = try o.number("alpha", default: 1)
            return try push(a, smia(&o, options))
        }),
        /// `dev{...}`: SMIA's deviation term alone (alpha = 0), the same options but `alpha`.
        ("dev", { a in
            var o = try AttackOptionReader(a, names: smiaOptions)
            var options = SMIAOptions()
            options.alpha = 0
            return try push(a, smia(&o, options))
        }),
        /// `iterative{loss = function(ctx) ... end, eps, step, steps, step_rule = "sign"|"l2"|
        /// "linf"|"momentum"|"adam", decay = 1, projection = "linf"|"l2"|"none", ...}`: an attack
        /// whose loss, to ascend, is a Lua function (see `LuaAttackLoss`). `step_rule = "linf"`
        /// steps along g/||g||∞ (DAG's normalization); `decay` is momentum's.
        ("iterative", { a in
            var o = try AttackOptionReader(a, names: iterativeOptions + ["loss", "step_rule", "decay", "projection"])
            _ = try o.function("loss", required: true)
            let rule = try o.choice("step_rule", ["sign", "l2", "linf", "momentum", "adam"], default: "sign")
            let decay = try o.number("decay", default: 1, minimum: 0)
            let projection = try o.choice("projection", ["linf", "l2", "none"], default: "linf")
            return try push(a, iterative(&o) { eps, step, steps in
                var attack = IterativeAttack(name: "iterative", loss: GradientAttacks.taskLoss)
                attack.eps = eps
                attack.steps = steps
                attack.stepSize = { _ in step }
                attack.projection = projection == "l2" ? .l2 : projection == "none" ? .none : .linf
                switch rule {
                case "l2": attack.stepRule = .l2
                case "linf": attack.stepRule = .linf
                case "momentum": attack.stepRule = .momentum(decay: decay)
                case "adam": attack.stepRule = .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
                default: attack.stepRule = .sign
                }
                return attack
            })
        }),
        /// `deepfool{steps = 50, overshoot = 0.02, norm = "l2"|"linf"}` (classification).
        ("deepfool", { a in
            var o = try AttackOptionReader(a, names: ["steps", "overshoot", "norm"])
            var attack = DeepFool()
            attack.steps = try o.integer("steps", default: 50, minimum: 1)
            attack.overshoot = try o.number("overshoot", default: 0.02, minimum: 0)
            attack.norm = try o.choice("norm", ["l2", "linf"], default: "l2") == "linf" ? .linf : .l2
            let spec = AttackSpec(name: "deepfool", engine: .deepfool(attack))
            spec.task = .classification
            return try push(a, finish(&o, spec))
        }),
        /// `cw{c = 1, kappa = 0, steps = 50, lr = 0.01, search_steps = 1, abort_early = true,
        /// targeted, target}`: Carlini & Wagner L2 (classification).
        ("cw", { a in
            var o = try AttackOptionReader(a, names: ["c", "kappa", "steps", "lr", "search_steps", "abort_early", "targeted", "target"])
            var attack = CarliniWagner()
            attack.c = try o.number("c", default: 1, minimum: 0, exclusive: true)
            attack.kappa = try o.number("kappa", default: 0, minimum: 0)
            attack.steps = try o.integer("steps", default: 50, minimum: 1)
            attack.learningRate = try o.number("lr", default: 0.01, minimum: 0, exclusive: true)
            attack.searchSteps = try o.integer("search_steps", default: 1, minimum: 1)
            attack.abortEarly = try o.boolean("abort_early", default: true)
            let spec = AttackSpec(name: "cw", engine: .cw(attack))
            spec.task = .classification
            spec.target = try o.target()
            attack.targeted = spec.targeted
            spec.engine = .cw(attack)
            return try push(a, finish(&o, spec))
        }),
        /// `apgd{eps = 8/255 (0.5 for l2), steps = 100, norm = "linf"|"l2", loss = "ce"|"dlr",
        /// restarts = 1, random_start = true, seed = 0, rho = 0.75, targeted, target, task}`.
        ("apgd", { a in
            var o = try AttackOptionReader(a, names: ["eps", "steps", "norm", "loss", "restarts", "random_start", "seed", "rho",
                                                      "targeted", "target", "task"])
            var attack = APGD()
            attack.norm = try o.choice("norm", ["linf", "l2"], default: "linf") == "l2" ? .l2 : .linf
            let (eps, perSample) = try o.radius("eps", default: attack.norm == .l2 ? 0.5 : 8 / 255)
            attack.eps = eps
            attack.perSampleEps = perSample
            attack.steps = try o.integer("steps", default: 100, minimum: 1)
            attack.loss = try o.choice("loss", ["ce", "dlr"], default: "ce") == "dlr" ? .dlr : .crossEntropy
            attack.restarts = try o.integer("restarts", default: 1, minimum: 1)
            attack.randomStart = try o.boolean("random_start", default: true)
            attack.seed = UInt64(try o.integer("seed", default: 0, minimum: 0))
            attack.rho = try o.number("rho", default: 0.75, minimum: 0, exclusive: true, maximum: 1)
            if attack.norm == .linf { try checkRadius(o, eps, range: attack.range) }
            let spec = AttackSpec(name: "apgd", engine: .apgd(attack))
            spec.task = try o.task()
            spec.target = try o.target()
            attack.targeted = spec.targeted
            try attack.validate()
            spec.engine = .apgd(attack)
            spec.eps = eps
            spec.perSampleEps = perSample
            return try push(a, finish(&o, spec))
        }),
        /// `dag{gamma = 0.5/255, steps = 200, eps, targeted, target, ignore_index, record}`:
        /// Dense Adversary Generation on a segmenter (labels (N, H, W)) or a detector (boxes
        /// per image; its targets are the heatmap cells around the clean detections that find
        /// a true box, see `DAG.run(detector:)`; untargeted, no ignore_index); `eps` adds an L∞
        /// budget, `target` gives each pixel's adversarial class (default: the runner-up class
        /// on the clean image).
        ("dag", { a in
            var o = try AttackOptionReader(a, names: ["gamma", "steps", "eps", "targeted", "target", "ignore_index", "record"])
            var attack = DAG()
            attack.gamma = try o.number("gamma", default: 0.5 / 255, minimum: 0, exclusive: true)
            attack.steps = try o.integer("steps", default: 200, minimum: 1)
            if let eps = try o.optionalNumber("eps", minimum: 0) {
                attack.eps = eps
                try checkRadius(o, eps, range: attack.range)
            }
            attack.ignoreIndex = try o.optionalInteger("ignore_index")
            // The task (segmentation or detection) comes from the model at run time.
            let spec = AttackSpec(name: "dag", engine: .dag(attack))
            spec.target = try o.target()
            if let target = spec.target {
                attack.targeted = true
                attack.adversarialLabels = .given(target)
            }
            spec.record = try o.boolean("record", default: false)
            attack.recordUpdates = spec.record
            try attack.validate()
            spec.engine = .dag(attack)
            return try push(a, finish(&o, spec))
        }),
    ]

    // MARK: - Shared parts

    /// The iterative attacks: eps, step, steps, then `make`, then the common options.
    private static func iterative(_ o: inout AttackOptionReader, defaultEps: Float = 8 / 255, randomStart: Bool = false,
                                  _ make: (Float, Float, Int) -> IterativeAttack) throws -> AttackSpec {
        let (eps, perSample) = try o.radius("eps", default: defaultEps)
        let step = try o.step(default: eps / 4)
        let steps = try o.integer("steps", default: 10, minimum: 1)
        var attack = make(eps, step ?? eps / 4, steps)
        attack.perSampleEps = perSample
        if o.options.names.contains("random_start") {
            attack.randomStart = try o.boolean("random_start", default: randomStart)
            attack.restarts = try o.integer("restarts", default: 1, minimum: 1)
            attack.seed = UInt64(try o.integer("seed", default: 0, minimum: 0))
        }
        return try gradient(&o, attack, eps: eps, perSample: perSample)
    }

    private static func smia(_ o: inout AttackOptionReader, _ base: SMIAOptions) throws -> AttackSpec {
        var options = base
        options.kernelSize = try o.integer("kernel_size", default: 5, minimum: 1)
        options.sigma = try o.number("sigma", default: 1, minimum: 0, exclusive: true)
        options.detachTarget = try o.boolean("detach_target", default: false)
        options.hardTarget = try o.boolean("hard_target", default: false)
        options.smoothLastStep = try o.choice("smooth", ["accumulated", "last_step"], default: "accumulated") == "last_step"
        let projection: Projection = try o.choice("projection", ["linf", "none"], default: "linf") == "none" ? .none : .linf
        do {
            try options.validate(options.alpha == 0 ? "dev" : "smia")
        } catch let error as TensorError {
            throw o.args.error(1, error.message)
        }
        return try iterative(&o) { eps, step, steps in
            GradientAttacks.smia(eps: eps, step: step, steps: steps, options: options, projection: projection)
        }
    }

    /// `smia`'s `variant`: "paper" (docs/api.md's SMIA options, the default) or "official".
    private static func variant(_ a: LuaArgs) throws -> String {
        let options = try LuaOptions(a, 1, names: smiaOptions + ["alpha", "variant", "kernel"])
        guard let v = try options.string("variant") else { return "paper" }
        guard v == "paper" || v == "official" else {
            throw a.error(1, "option 'variant': expected 'paper' or 'official', got '\(v)'")
        }
        return v
    }

    /// The authors' variant: the target's form is fixed (hard, detached, on the blurred last
    /// step), so detach_target, hard_target and smooth are unknown options here.
    private static func smiaOfficial(_ a: LuaArgs) throws -> AttackSpec {
        var o = try AttackOptionReader(a, names: iterativeOptions + ["alpha", "variant", "kernel", "kernel_size", "sigma", "projection"])
        _ = try o.choice("variant", ["official"], default: "official")
        var options = SMIAOfficialOptions()
        options.alpha = try o.number("alpha", default: 1)
        if try o.choice("kernel", ["gaussian", "gkern"], default: "gaussian") == "gkern" {
            for name in ["kernel_size", "sigma"] where try o.options.number(name) != nil {
                throw o.args.error(1, "option '\(name)' sets the Gaussian kernel; kernel = 'gkern' is the authors' fixed filter")
            }
            options.kernel = .gkern
        } else {
            options.kernel = .gaussian(size: try o.integer("kernel_size", default: 3, minimum: 1),
                                       sigma: try o.number("sigma", default: 1, minimum: 0, exclusive: true))
        }
        let projection: Projection = try o.choice("projection", ["none", "linf"], default: "none") == "linf" ? .linf : .none
        do {
            try options.validate()
        } catch let error as TensorError {
            throw o.args.error(1, error.message)
        }
        return try iterative(&o) { eps, step, steps in
            GradientAttacks.smiaOfficial(eps: eps, step: step, steps: steps, options: options, projection: projection)
        }
    }

    /// The options every gradient attack takes, and the engine's own checks.
    private static func gradient(_ o: inout AttackOptionReader, _ engine: IterativeAttack, eps: Float,
                                 perSample: Tensor?) throws -> AttackSpec {
        var attack = engine
        let spec = AttackSpec(name: o.args.name, engine: .gradient(attack))
        spec.eps = eps
        spec.perSampleEps = perSample
        spec.target = try o.target()
        attack.targeted = spec.targeted
        attack.mask = try o.tensor("mask")
        attack.earlyStop = try o.boolean("early_stop", default: false)
        spec.record = try o.boolean("record", default: false)
        attack.recordUpdates = spec.record
        _ = try o.function("on_step")
        spec.task = try o.task()
        do {
            try attack.validate()
        } catch let error as TensorError {
            throw o.args.error(1, error.message)
        }
        if attack.projection == .linf { try checkRadius(o, eps, range: attack.range) }
        spec.engine = .gradient(attack)
        return finish(&o, spec)
    }

    /// An L∞ radius wider than the images' range bounds nothing: most likely a radius in
    /// 0-255 units given for images in [0, 1].
    private static func checkRadius(_ o: AttackOptionReader, _ eps: Float, range: (Float, Float)) throws {
        let width = range.1 - range.0
        guard eps <= width else {
            let in255 = eps == eps.rounded() && eps <= 255 ? " (a radius of \(Int(eps))/255 is written eps = \(Int(eps)) / 255)" : ""
            throw o.error("eps", "an L∞ radius of \(eps) is larger than the images' range [\(range.0), \(range.1)]\(in255)")
        }
    }

    private static func finish(_ o: inout AttackOptionReader, _ spec: AttackSpec) -> AttackSpec {
        spec.summary = o.orderedSummary
        spec.functions = o.functions
        return spec
    }

    private static func push(_ a: LuaArgs, _ spec: AttackSpec) throws -> Int32 {
        AttackBox.push(a, spec, options: 1)
        return 1
    }
}
