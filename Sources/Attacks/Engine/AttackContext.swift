import Tensor

/// What a loss sees at one iteration of an attack.
public final class AttackContext {
    public let model: Module
    public let task: AttackTask
    /// The clean images x.
    public let clean: Tensor
    /// The current adversarial images x̃; gradients are taken with respect to it.
    public let current: Tensor
    /// The adversarial images before the last update (the clean ones at iteration 1).
    public let previous: Tensor
    /// Ground truth (untargeted) or target classes (targeted).
    public let labels: Tensor
    public let targeted: Bool
    /// 1-based.
    public let iteration: Int
    /// The model's output on `current`, recorded for gradients.
    public let output: Tensor
    /// The model's output on the attack's companion images (`IterativeAttack.companion`) at
    /// this iteration, recorded, when there are any.
    public let companionOutput: Tensor?
    let counters: AttackCounters

    public init(model: Module, task: AttackTask, clean: Tensor, current: Tensor, previous: Tensor, labels: Tensor,
                targeted: Bool, iteration: Int, output: Tensor, companionOutput: Tensor? = nil,
                counters: AttackCounters = AttackCounters()) {
        self.model = model
        self.task = task
        self.clean = clean
        self.current = current
        self.previous = previous
        self.labels = labels
        self.targeted = targeted
        self.iteration = iteration
        self.output = output
        self.companionOutput = companionOutput
        self.counters = counters
    }

    /// The model on other images, counted in the attack's statistics.
    public func forward(_ x: Tensor) throws -> Tensor {
        counters.forwards += x.shape.first ?? 0
        return try model(x)
    }

    /// The task loss of `output` against the labels, signed so that ascending it attacks:
    /// negated for a targeted attack.
    public func taskLoss(_ output: Tensor) throws -> Tensor {
        let loss = try task.loss(output, labels)
        return targeted ? -loss : loss
    }
}

/// Work done by an attack, in images: forward passes and gradient computations.
public final class AttackCounters {
    public var forwards = 0
    public var gradients = 0
    public init() {}
}

/// A loss to ascend: a scalar from the context.
public typealias AttackLoss = (AttackContext) throws -> Tensor

/// Images, one per sample, whose model output a loss needs besides the current images' (SMIA's
/// smoothed images), from (clean, current, previous, iteration); nil when none are needed.
public typealias CompanionImages = (_ clean: Tensor, _ current: Tensor, _ previous: Tensor, _ iteration: Int) throws -> Tensor?
