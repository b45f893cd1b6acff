import Foundation
import Tensor

/// The one iterative driver every gradient attack is built from: a loss, a step rule, a
/// projection, the valid range, and the options researchers vary.
public struct IterativeAttack {
    public var name: String
    public var loss: AttackLoss
    /// Images the loss also needs the model's output on, computed from the current ones: they go
    /// through the model in one batch with the current images (twice the columns per GEMM, one
    /// pass of the layers' bookkeeping), and reach the loss as `companionOutput`. For a model
    /// that treats samples independently (eval mode), as every attacked model here.
    public var companion: CompanionImages?
    /// Called at each iteration with the step about to be applied (after the step rule and the
    /// mask, before projection and clipping): the authors' SMIA computes its next target there.
    public var afterStep: ((AttackContext, Tensor) throws -> Void)?
    public var stepRule: StepRule = .sign
    public var projection: Projection = .linf
    /// Radius of the projection; one value, or per sample through `perSampleEps`.
    public var eps: Float = 8 / 255
    public var perSampleEps: Tensor?
    public var steps: Int = 10
    /// Step size as a function of the 1-based iteration.
    public var stepSize: (Int) -> Float = { _ in 2 / 255 }
    public var range: (Float, Float) = (0, 1)
    /// Start from a random point of the projection set instead of the clean image.
    public var randomStart = false
    public var seed: UInt64 = 0
    /// Runs of the whole attack (each with its own random start); each sample keeps its best.
    public var restarts = 1
    /// Stops updating a sample once it is misclassified (or reaches its target).
    public var earlyStop = false
    /// Multiplies every update (broadcast to the images): 1 where pixels may change.
    public var mask: Tensor?
    public var targeted = false
    /// Keeps every applied update, for the Var and Cos metrics.
    public var recordUpdates = false
    /// Called after each iteration with (iteration, current images, loss); false stops the run.
    public var onStep: ((Int, Tensor, Float) throws -> Bool)?
    /// Polled between iterations; true stops the attack with an error (Ctrl-C).
    public var interrupted: () -> Bool = { false }
    /// The model's output on the clean images, recorded with `images` (a leaf equal to them
    /// that needs a gradient) as its input: the caller's clean forward pass, which then serves
    /// as the first step's forward when that step starts from the clean images.
    public var cleanForward: (images: Tensor, output: Tensor)?
    /// Also runs the clean images through the model, in one batch with the first run's scoring
    /// pass, and returns their output as `AttackResult.cleanOutput`: for a caller that needs it
    /// when no step starts from the clean images (a random start). Not counted in `forwards`.
    public var scoresCleanImages = false

    public init(name: String, loss: @escaping AttackLoss) {
        self.name = name
        self.loss = loss
    }

    /// Checks options that do not depend on the data.
    public func validate() throws {
        guard steps >= 1 else { throw TensorError("\(name): steps must be at least 1, got \(steps)") }
        guard eps >= 0, eps.isFinite else { throw TensorError("\(name): eps must be a finite number >= 0, got \(eps)") }
        guard restarts >= 1 else { throw TensorError("\(name): restarts must be at least 1, got \(restarts)") }
        guard range.0 < range.1 else { throw TensorError("\(name): range must have min < max, got [\(range.0), \(range.1)]") }
    }

    public func run(model: Module, task: AttackTask, images: Tensor, labels: Tensor) throws -> AttackResult {
        try validate()
        let started = Date()
        let n = images.shape.first ?? 0
        try checkImageBatch(images, op: name)
        let radii = try perSampleEps ?? Tensor.full([n], eps)
        try checkRadii(radii, count: n, op: name)
        if let mask { _ = try broadcastCheck(mask, images) }
        let counters = AttackCounters()
        let clean = images.detached()

        var best: Tensor?
        var bestOutput: Tensor?
        var cleanOutput: Tensor?
        var bestScore: [Float] = []
        var updates: [Tensor] = []
        var losses: [Float] = []
        for restart in 0..<restarts {
            let run = try singleRun(model: model, task: task, clean: clean, labels: labels, radii: radii,
                                    seed: seed &+ UInt64(restart), counters: counters,
                                    cleanForward: restart == 0 ? cleanForward : nil)
            let output: Tensor
            if scoresCleanImages && restart == 0 {
                let both = try withoutGrad { try forwardTogether(model, clean, run.adversarial, op: name) }
                (cleanOutput, output) = (both.first, both.second)
            } else {
                output = try withoutGrad { try model(run.adversarial) }
            }
            counters.forwards += n
            // Score per sample, to keep each sample's best run: success first, then the task
            // loss. A single run has nothing to choose from.
            var score: [Float] = []
            if restarts > 1 {
                let success = try task.success(output, labels: labels, targeted: targeted)
                var perSample = try withoutGrad { try task.lossPerSample(output, labels) }.storage
                if targeted { perSample = perSample.map { -$0 } }
                score = zip(success, perSample).map { $0 ? Float.infinity : $1 }
            }
            if let current = best, let currentOutput = bestOutput {
                let better = zip(score, bestScore).map { $0 > $1 }
                best = try Tensor.selectSamples(better, run.adversarial, current)
                bestOutput = try Tensor.selectSamples(better, output, currentOutput)
                bestScore = zip(score, bestScore).map { Swift.max($0, $1) }
            } else {
                best = run.adversarial
                bestOutput = output
                bestScore = score
            }
            if restart == 0 || !recordUpdates { updates = run.updates }
            losses += run.losses
        }
        guard let adversarial = best else { throw TensorError("\(name): no run completed") }
        return AttackResult(adversarial: adversarial, updates: updates, losses: losses,
                            forwards: counters.forwards, gradients: counters.gradients,
                            seconds: Date().timeIntervalSince(started), adversarialOutput: bestOutput,
                            cleanOutput: cleanOutput)
    }

    private func singleRun(model: Module, task: AttackTask, clean: Tensor, labels: Tensor, radii: Tensor,
                           seed: UInt64, counters: AttackCounters,
                           cleanForward: (images: Tensor, output: Tensor)?) throws -> (adversarial: Tensor, updates: [Tensor], losses: [Float]) {
        let n = clean.shape[0]
        var adversarial = clean
        if randomStart {
            var noise = try projection.randomPerturbation(clean.shape, radii: radii, seed: seed)
            if let mask { noise = try noise * mask }
            adversarial = try projection.apply(clean: clean, adversarial: clean + noise, eps: radii, range: range)
        }
        var state = StepState(stepRule)
        var updates: [Tensor] = []
        var losses: [Float] = []
        var previous = clean
        var frozen = [Bool](repeating: false, count: n)
        for iteration in 1...steps {
            if interrupted() { throw TensorError("\(name): interrupted") }
            var current = adversarial.detached()
            current.requiresGrad = true
            let output: Tensor, companionOutput: Tensor?
            let extra = try companion?(clean, current, previous, iteration)
            if iteration == 1, !randomStart, extra == nil, let primed = cleanForward {
                // The first step starts from the clean images: their forward pass is done.
                current = primed.images
                output = primed.output
                companionOutput = nil
                counters.forwards += n
            } else if let extra {
                (output, companionOutput) = try forwardTogether(model, current, extra, op: name)
                counters.forwards += 2 * n
            } else {
                output = try model(current)
                companionOutput = nil
                counters.forwards += n
            }
            if iteration == 1 { try task.check(output: output, labels: labels, op: name) }
            if earlyStop {
                let success = try task.success(output.detached(), labels: labels, targeted: targeted)
                frozen = zip(frozen, success).map { $0 || $1 }
                if !frozen.contains(false) { break }
            }
            let context = AttackContext(model: model, task: task, clean: clean, current: current, previous: previous,
                                        labels: labels, targeted: targeted, iteration: iteration, output: output,
                                        companionOutput: companionOutput, counters: counters)
            let objective = try loss(context)
            guard objective.count == 1 else {
                throw TensorError("\(name): the loss must be a scalar, got size \(describeShape(objective.shape))")
            }
            let value = try objective.item()
            guard value.isFinite else { throw TensorError("\(name): the loss is \(value) at iteration \(iteration)") }
            let gradient = try grad(of: objective, wrt: [current])[0]
            counters.gradients += n
            let size = stepSize(iteration)
            guard size.isFinite else { throw TensorError("\(name): the step size must be a finite number, got \(size) at iteration \(iteration)") }
            var step = try state.direction(gradient) * size
            if let mask { step = try step * mask }
            try afterStep?(context, step)
            var next = try withoutGrad {
                try projection.apply(clean: clean, adversarial: adversarial + step, eps: radii, range: range)
            }
            // Frozen samples keep their images bit for bit (projecting adds rounding).
            if earlyStop && frozen.contains(true) {
                next = try Tensor.selectSamples(frozen.map { !$0 }, next, adversarial)
            }
            if recordUpdates { updates.append(try next - adversarial) }
            previous = adversarial
            adversarial = next
            losses.append(value)
            if let onStep, try !onStep(iteration, adversarial, value) { break }
        }
        return (adversarial, updates, losses)
    }

    private func broadcastCheck(_ mask: Tensor, _ images: Tensor) throws -> Tensor {
        do {
            let product = try mask * images
            guard product.shape == images.shape else { throw TensorError("") }
            return product
        } catch {
            throw TensorError("\(name): the mask of size \(describeShape(mask.shape)) does not broadcast to the images \(describeShape(images.shape))")
        }
    }
}

/// What an attack returns: the adversarial images and a record of the run.
public struct AttackResult {
    public let adversarial: Tensor
    /// The applied updates x̃ₜ − x̃ₜ₋₁ (when recorded), first run only.
    public let updates: [Tensor]
    /// The loss at each iteration, across restarts.
    public let losses: [Float]
    public let forwards: Int
    public let gradients: Int
    public let seconds: Double
    /// The model's output on `adversarial`, when the attack computed it (unrecorded).
    public var adversarialOutput: Tensor?
    /// The model's output on the clean images, when the attack computed it (unrecorded).
    public var cleanOutput: Tensor?

    public init(adversarial: Tensor, updates: [Tensor], losses: [Float], forwards: Int, gradients: Int, seconds: Double,
                adversarialOutput: Tensor? = nil, cleanOutput: Tensor? = nil) {
        self.adversarial = adversarial
        self.updates = updates
        self.losses = losses
        self.forwards = forwards
        self.gradients = gradients
        self.seconds = seconds
        self.adversarialOutput = adversarialOutput
        self.cleanOutput = cleanOutput
    }
}

extension Tensor {
    /// Per sample (dimension 0), `a`'s sample where `takeA`, else `b`'s.
    static func selectSamples(_ takeA: [Bool], _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shape = [takeA.count] + [Int](repeating: 1, count: a.rank - 1)
        return try Tensor.select(where: Tensor(shape: shape, storage: takeA.map { $0 ? 1 : 0 }), a, b)
    }
}
