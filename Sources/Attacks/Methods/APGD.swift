import Foundation
import Tensor

/// Auto-PGD (Croce & Hein, ICML 2020): PGD with momentum and a step size that halves itself at
/// checkpoints, restarting from the best point found. No step size to tune.
///
/// With N = `steps`, x⁽⁰⁾ the start and η = 2ε:
/// - x⁽¹⁾ = P(x⁽⁰⁾ + η·s(∇f(x⁽⁰⁾))), s = sign (L∞) or g/||g||₂ (L2), P the projection and clip;
/// - x⁽ᵏ⁺¹⁾ = P(x⁽ᵏ⁾ + α(z − x⁽ᵏ⁾) + (1 − α)(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾)) with z = P(x⁽ᵏ⁾ + η·s(∇f(x⁽ᵏ⁾))), α = 0.75;
/// - checkpoints w_j = ⌈p_j·N⌉, p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06);
/// - at x⁽ʷʲ⁾, a sample halves its η and goes back to its best point x_max (with its gradient)
///   when (1) fewer than ρ·(w_j − w_{j−1}) of the steps since the last checkpoint increased f
///   (ρ = 0.75), or (2) its η was not halved at the last checkpoint and its best loss f_max has
///   not increased since then.
/// Everything is per sample (its own η, x_max, f_max, counts).
///
/// Choices, documented:
/// - Condition (1) uses the paper's strict `<`; the authors' code uses `≤`.
/// - Condition (2) can fire at the first checkpoint, as the paper's formula says (w₀ = 0, with η
///   and f_max of x⁽⁰⁾); the authors' code starts with "halved at the last checkpoint", so it
///   cannot.
/// - The random start is uniform in the ball (`Projection.randomPerturbation`); the authors
///   scale uniform noise so its largest value is ε.
/// - x⁽ᴺ⁾ is evaluated (loss, success) without a gradient: N gradients, N + 1 forward passes
///   per run, so `steps` compares with PGD's (N steps and a pass that scores the result). The
///   returned output on the best iterates comes from those passes.
/// - A sample returns its best iterate: a successful one before any other, then the higher loss.
///   (The authors return the clean image for a sample that stays correctly classified.)
/// - Restarts (`restarts`, seeds `seed`, `seed + 1`, ...) run only on the samples that have not
///   succeeded yet, and each sample keeps its best over the runs.
/// - The loss is per sample and summed for the gradient, so samples do not interact; the task
///   decides the cross-entropy (per-pixel mean for segmentation) and what counts as success.
public struct APGD {
    public enum Loss: String, CaseIterable {
        /// The task's cross-entropy (negated when targeted).
        case crossEntropy = "ce"
        /// The Difference of Logits Ratio (`dlrLoss`); untargeted only.
        case dlr
    }

    /// `.linf` or `.l2`.
    public var norm: Projection = .linf
    public var eps: Float = 8 / 255
    /// Radii per sample (N), instead of `eps`.
    public var perSampleEps: Tensor?
    public var steps = 100
    public var loss: Loss = .crossEntropy
    /// ρ of condition (1).
    public var rho: Float = 0.75
    /// α, the weight of the new step against the previous update.
    public var momentum: Float = 0.75
    public var restarts = 1
    public var randomStart = true
    public var seed: UInt64 = 0
    /// The labels are target classes, and the loss is −CE to them.
    public var targeted = false
    public var range: (Float, Float) = (0, 1)
    /// Polled between iterations; true stops the attack with an error (Ctrl-C).
    public var interrupted: () -> Bool = { false }
    /// Called at each checkpoint w_j with (w_j, each sample's step size after the check, which
    /// samples halved it and went back to their best point), for the samples of the current run.
    public var onCheckpoint: ((_ iteration: Int, _ stepSizes: [Float], _ halved: [Bool]) -> Void)?
    /// Also runs the clean images through the model, in one batch with the first run's last
    /// evaluation, and returns their output as `AttackResult.cleanOutput`: for a caller that
    /// needs it. Not counted in `forwards`.
    public var scoresCleanImages = false

    public init() {}

    public var name: String { "apgd" + (loss == .dlr ? "_dlr" : "") + (norm == .l2 ? "_l2" : "") }

    public func validate() throws {
        guard steps >= 1 else { throw TensorError("\(name): steps must be at least 1, got \(steps)") }
        guard eps >= 0, eps.isFinite else { throw TensorError("\(name): eps must be a finite number >= 0, got \(eps)") }
        guard norm != .none else { throw TensorError("\(name): norm must be linf or l2, got none") }
        guard restarts >= 1 else { throw TensorError("\(name): restarts must be at least 1, got \(restarts)") }
        guard rho > 0, rho <= 1 else { throw TensorError("\(name): rho must be in (0, 1], got \(rho)") }
        guard momentum > 0, momentum <= 1 else { throw TensorError("\(name): momentum must be in (0, 1], got \(momentum)") }
        guard range.0 < range.1 else { throw TensorError("\(name): range must have min < max, got [\(range.0), \(range.1)]") }
        guard !(targeted && loss == .dlr) else {
            throw TensorError("\(name): the dlr loss is untargeted; use the ce loss for a targeted attack")
        }
    }

    /// The 1-based iterations w_j ≥ 1 at which the step size is checked, for `steps` iterations.
    public static func checkpoints(steps: Int) -> [Int] {
        guard steps >= 1 else { return [] }
        // p_j in hundredths, so the schedule is exact.
        var result: [Int] = []
        var (previous, current) = (0, 22)
        while true {
            // ⌈p·N⌉ in Double: exact for any realistic N, and no overflow for absurd ones.
            let exact = (Double(current) * Double(steps) / 100).rounded(.up)
            if exact > Double(steps) { break }
            let w = exact >= Double(Int.max) ? steps : Int(exact)
            if w > (result.last ?? 0) { result.append(w) }
            (previous, current) = (current, current + Swift.max(current - previous - 3, 6))
        }
        return result
    }

    public func run(model: Module, task: AttackTask, images: Tensor, labels: Tensor) throws -> AttackResult {
        try validate()
        if task == .detection, loss == .dlr {
            throw TensorError("\(name): the dlr loss needs class logits; on a detector use loss = 'ce' (the detector's own loss)")
        }
        let started = Date()
        let n = images.shape.first ?? 0
        try checkImageBatch(images, op: name)
        let radii = try perSampleEps ?? Tensor.full([n], eps)
        try checkRadii(radii, count: n, op: name)
        let counters = AttackCounters()
        let clean = images.detached()

        var best = clean
        var bestOutput: Tensor?
        var cleanOutput: Tensor?
        var bestSuccess = [Bool](repeating: false, count: n)
        var bestLoss = [Float](repeating: -.infinity, count: n)
        var losses: [Float] = []
        for restart in 0..<restarts {
            let todo = (0..<n).filter { !bestSuccess[$0] }
            if todo.isEmpty { break }
            let all = todo.count == n
            let index = try Tensor(shape: [todo.count], storage: todo.map(Float.init))
            let run = try singleRun(model: model, task: task,
                                    clean: all ? clean : clean.indexSelect(dim: 0, indices: index),
                                    labels: all ? labels : labels.indexSelect(dim: 0, indices: index),
                                    radii: all ? radii : radii.indexSelect(dim: 0, indices: index),
                                    seed: seed &+ UInt64(restart), counters: counters,
                                    scoringClean: scoresCleanImages && restart == 0)
            losses += run.losses
            if restart == 0 { cleanOutput = run.cleanOutput }
            var take = [Bool](repeating: false, count: n)
            for (j, i) in todo.enumerated() where better(run.success[j], run.loss[j], than: bestSuccess[i], bestLoss[i]) {
                take[i] = true
                bestSuccess[i] = run.success[j]
                bestLoss[i] = run.loss[j]
            }
            if take.contains(true) {
                let merged = all ? run.adversarial : try scatter(run.adversarial, into: clean.shape, at: todo, over: best)
                best = try Tensor.selectSamples(take, merged, best)
            }
            // The output on `best`, from the runs' own passes (none where a sample kept its
            // clean image: the caller then scores the result).
            if restart == 0 {
                bestOutput = take.contains(false) ? nil : run.output
            } else if take.contains(true), let current = bestOutput {
                let merged = all ? run.output : try scatter(run.output, into: current.shape, at: todo, over: current)
                bestOutput = try Tensor.selectSamples(take, merged, current)
            }
        }
        return AttackResult(adversarial: best, updates: [], losses: losses, forwards: counters.forwards,
                            gradients: counters.gradients, seconds: Date().timeIntervalSince(started),
                            adversarialOutput: bestOutput, cleanOutput: cleanOutput)
    }

    private func better(_ success: Bool, _ loss: Float, than bestSuccess: Bool, _ bestLoss: Float) -> Bool {
        success != bestSuccess ? success : loss > bestLoss
    }

    /// `base` with the samples of `part` written at positions `at`.
    private func scatter(_ part: Tensor, into shape: [Int], at positions: [Int], over base: Tensor) throws -> Tensor {
        let size = part.count / Swift.max(part.shape[0], 1)
        var storage = base.storage
        for (j, i) in positions.enumerated() {
            storage.replaceSubrange((i * size)..<((i + 1) * size), with: part.storage[(j * size)..<((j + 1) * size)])
        }
        return try Tensor(shape: shape, storage: storage)
    }

    /// The model's output and each sample's loss (N) to ascend at `x`, with the gradient of
    /// their sum when asked; without one, `clean` images, when given, go through the model in
    /// the same batch, and their output comes back as `cleanOutput`.
    private func evaluate(model: Module, task: AttackTask, x: Tensor, labels: Tensor, withGradient: Bool,
                          check: Bool, counters: AttackCounters, clean: Tensor? = nil)
        throws -> (output: Tensor, loss: [Float], success: [Bool], gradient: Tensor?, cleanOutput: Tensor?) {
        let n = x.shape[0]
        if !withGradient {
            let (output, cleanOutput) = try withoutGrad { () throws -> (Tensor, Tensor?) in
                guard let clean else { return (try model(x), nil) }
                let both = try forwardTogether(model, x, clean, op: name)
                return (both.first, both.second)
            }
            counters.forwards += n
            if check { try task.check(output: output, labels: labels, op: name) }
            let perSample = try withoutGrad { try lossPerSample(task: task, output: output, labels: labels) }
            return (output, perSample.storage, try task.success(output, labels: labels, targeted: targeted), nil, cleanOutput)
        }
        let current = x.detached()
        current.requiresGrad = true
        let output = try model(current)
        counters.forwards += n
        if check { try task.check(output: output, labels: labels, op: name) }
        let perSample = try lossPerSample(task: task, output: output, labels: labels)
        if let bad = perSample.storage.first(where: { !$0.isFinite }) {
            throw TensorError("\(name): the loss is \(bad) for a sample")
        }
        let gradient = try grad(of: perSample.sum(), wrt: [current])[0]
        counters.gradients += n
        let detached = output.detached()
        return (detached, perSample.storage, try task.success(detached, labels: labels, targeted: targeted), gradient, nil)
    }

    private func lossPerSample(task: AttackTask, output: Tensor, labels: Tensor) throws -> Tensor {
        switch loss {
        case .crossEntropy:
            let ce = try task.lossPerSample(output, labels)
            return targeted ? -ce : ce
        case .dlr:
            return try dlrLoss(output, labels)
        }
    }

    private func singleRun(model: Module, task: AttackTask, clean: Tensor, labels: Tensor, radii: Tensor, seed: UInt64,
                           counters: AttackCounters, scoringClean: Bool)
        throws -> (adversarial: Tensor, output: Tensor, success: [Bool], loss: [Float], losses: [Float], cleanOutput: Tensor?) {
        let n = clean.shape[0]
        let perSample = [n] + [Int](repeating: 1, count: clean.rank - 1)
        func project(_ x: Tensor) throws -> Tensor {
            try withoutGrad { try norm.apply(clean: clean, adversarial: x, eps: radii, range: range) }
        }
        func direction(_ g: Tensor) throws -> Tensor {
            norm == .l2 ? try g / perSampleNorm(g, p: 2, floor: 1e-12) : g.sign()
        }
        let marks = Set(APGD.checkpoints(steps: steps))

        var x = clean
        if randomStart {
            x = try project(clean + norm.randomPerturbation(clean.shape, radii: radii, seed: seed))
        }
        var evaluation = try evaluate(model: model, task: task, x: x, labels: labels, withGradient: true, check: true, counters: counters)
        var losses = [evaluation.loss.reduce(0, +) / Float(n)]
        var gradient = evaluation.gradient ?? x
        var previous = x
        // The algorithm's state: the highest-loss point and its gradient.
        var xMax = x, gMax = gradient
        var fMax = evaluation.loss
        // What is returned: success first, then the loss.
        var best = x, bestOutput = evaluation.output
        var bestSuccess = evaluation.success, bestLoss = evaluation.loss
        var cleanOutput: Tensor?
        var eta = radii.storage.map { 2 * $0 }
        var lastLoss = evaluation.loss
        var increases = [Int](repeating: 0, count: n)
        var lastCheckpoint = 0
        var fMaxAtCheckpoint = fMax
        var halvedAtCheckpoint = [Bool](repeating: false, count: n)

        for k in 0..<steps {
            if interrupted() { throw TensorError("\(name): interrupted") }
            let step = try Tensor(shape: perSample, storage: eta)
            let z = try project(x + direction(gradient) * step)
            let next = k == 0 ? z : try project(x + (z - x) * momentum + (x - previous) * (1 - momentum))
            previous = x
            x = next
            let last = k == steps - 1
            evaluation = try evaluate(model: model, task: task, x: x, labels: labels, withGradient: !last, check: false,
                                      counters: counters, clean: last && scoringClean ? clean : nil)
            if last { cleanOutput = evaluation.cleanOutput }
            losses.append(evaluation.loss.reduce(0, +) / Float(n))
            if let g = evaluation.gradient { gradient = g }

            var raised = [Bool](repeating: false, count: n), improved = raised
            for i in 0..<n {
                if evaluation.loss[i] > lastLoss[i] { increases[i] += 1 }
                if evaluation.loss[i] > fMax[i] { fMax[i] = evaluation.loss[i]; raised[i] = true }
                if better(evaluation.success[i], evaluation.loss[i], than: bestSuccess[i], bestLoss[i]) {
                    bestSuccess[i] = evaluation.success[i]
                    bestLoss[i] = evaluation.loss[i]
                    improved[i] = true
                }
            }
            lastLoss = evaluation.loss
            if raised.contains(true) {
                xMax = try Tensor.selectSamples(raised, x, xMax)
                if !last { gMax = try Tensor.selectSamples(raised, gradient, gMax) }
            }
            if improved.contains(true) {
                best = try Tensor.selectSamples(improved, x, best)
                bestOutput = try Tensor.selectSamples(improved, evaluation.output, bestOutput)
            }

            let iteration = k + 1
            guard marks.contains(iteration), !last else { continue }
            let period = Float(iteration - lastCheckpoint)
            var halve = [Bool](repeating: false, count: n)
            for i in 0..<n {
                let oscillating = Float(increases[i]) < rho * period
                let stalled = !halvedAtCheckpoint[i] && fMax[i] <= fMaxAtCheckpoint[i]
                halve[i] = oscillating || stalled
                if halve[i] { eta[i] /= 2 }
            }
            if halve.contains(true) {
                x = try Tensor.selectSamples(halve, xMax, x)
                gradient = try Tensor.selectSamples(halve, gMax, gradient)
                // The loss to compare the next step with is that of the point stepped from.
                for i in 0..<n where halve[i] { lastLoss[i] = fMax[i] }
            }
            onCheckpoint?(iteration, eta, halve)
            halvedAtCheckpoint = halve
            fMaxAtCheckpoint = fMax
            increases = [Int](repeating: 0, count: n)
            lastCheckpoint = iteration
        }
        return (best, bestOutput, bestSuccess, bestLoss, losses, cleanOutput)
    }
}
