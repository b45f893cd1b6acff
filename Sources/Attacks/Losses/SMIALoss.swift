import Tensor

/// The choices SMIA's paper leaves open (docs/api.md), with the defaults the fixtures use.
public struct SMIAOptions {
    /// Weight of the stabilization term; 0 gives DEV, the deviation-only ablation.
    public var alpha: Float = 1
    public var kernelSize = 5
    public var sigma: Float = 1
    /// Stop the gradient at the stabilization target f(x + W∗η).
    public var detachTarget = false
    /// Use the target's argmax labels instead of its probabilities (for a detector, its peaks:
    /// see `DetectionTask.stabilization`).
    public var hardTarget = false
    /// Smooth only the last update instead of the accumulated perturbation η: the target is
    /// f(x + W∗(x̃ − x̃_prev)), the clean image plus the blurred last applied update. This is not
    /// what the authors' code does (x̃_prev + W∗(step·sign g), hard, one iteration earlier):
    /// that is `GradientAttacks.smiaOfficial`, docs/smia_official.md.
    public var smoothLastStep = false

    public init() {}

    public func validate(_ op: String) throws {
        guard alpha.isFinite else { throw TensorError("\(op): alpha must be a finite number, got \(alpha)") }
        guard kernelSize > 0, kernelSize % 2 == 1 else {
            throw TensorError("\(op): kernel_size must be a positive odd number, got \(kernelSize)")
        }
        guard sigma > 0, sigma.isFinite else { throw TensorError("\(op): sigma must be positive, got \(sigma)") }
    }
}

/// SMIA's objective: L(f(x̃), y) − α · L(f(x̃), f(x + W∗η)) from the second iteration on,
/// L(f(x̃), y) at the first. W is a normalized Gaussian applied per channel. The stabilization
/// term is `AttackTask.stabilization`: cross-entropy against the target's probabilities, or for
/// a detector a soft-target loss on its heads (`DetectionTask.stabilization`). f(x + W∗η) is the
/// context's companion output when the attack ran it with x̃ (`smiaCompanion`), else a forward
/// pass of its own.
public func smiaLoss(_ options: SMIAOptions) -> AttackLoss {
    return { context in
        let deviation = try context.taskLoss(context.output)
        guard context.iteration >= 2, options.alpha != 0 else { return deviation }
        let targetOutput = try context.companionOutput
            ?? context.forward(smiaTargetImages(options, clean: context.clean, current: context.current, previous: context.previous))
        let stabilization = try context.task.stabilization(context.output, target: targetOutput, hard: options.hardTarget)
        return try deviation - stabilization * options.alpha
    }
}

/// The stabilization target's images x + W∗η as companion images of the attack, when the
/// gradient flows through them. A detached or hard target takes no gradient, so batching it
/// would only add its half to the backward pass: the loss runs it alone.
public func smiaCompanion(_ options: SMIAOptions) -> CompanionImages {
    return { clean, current, previous, iteration in
        guard iteration >= 2, options.alpha != 0, !options.detachTarget, !options.hardTarget else { return nil }
        return try smiaTargetImages(options, clean: clean, current: current, previous: previous)
    }
}

/// x + W∗η, η the accumulated perturbation or the last step.
func smiaTargetImages(_ options: SMIAOptions, clean: Tensor, current: Tensor, previous: Tensor) throws -> Tensor {
    var perturbation = try current - (options.smoothLastStep ? previous : clean)
    if options.detachTarget { perturbation = perturbation.detached() }
    return try clean + Tensor.gaussianBlur(perturbation, size: options.kernelSize, sigma: options.sigma)
}
