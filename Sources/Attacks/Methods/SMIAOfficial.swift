import Tensor

/// SMIA as the authors' released code (github.com/imogenqi/SMA, SMIA.py) evidently intends it;
/// `docs/smia_official.md` reads that code line by line and names every choice made here.
///
/// Iteration t (1-based) of `perturb`:
///   loss = L(f(x̃ₜ), y)                                  at t = 1,
///   loss = L(f(x̃ₜ), y) − α · L(f(x̃ₜ), ŷₜ₋₁)              from t = 2 on;
///   g = ∇ loss, s = step · sign(g);
///   ŷₜ = argmax f(x̃ₜ + W∗s), with no gradient (the target of the next iteration);
///   x̃ₜ₊₁ = clip₀¹(x̃ₜ + s), no projection unless asked for.
/// The target is hard (argmax labels; a detector's peaks), taken on the previous image plus the
/// blurred step rather than on x + W∗η, and computed before the update it follows.
public struct SMIAOfficialOptions {
    /// The authors' `a2`, weight of the stabilization term (their `a1`, on the deviation, is 1).
    public var alpha: Float = 1
    public var kernel: Kernel = .gaussian(size: 3, sigma: 1)

    /// W: the Gaussian their `gkern(3, 1)` is meant to be (per channel, normalized, 3×3, σ = 1,
    /// as TI-FGSM's `gkern` they copy), or their filter as it runs (`SMIAOfficialKernel`).
    public enum Kernel {
        case gaussian(size: Int, sigma: Float)
        case gkern
    }

    public init() {}

    public func validate() throws {
        guard alpha.isFinite else { throw TensorError("smia: alpha must be a finite number, got \(alpha)") }
        if case let .gaussian(size, sigma) = kernel {
            guard size > 0, size % 2 == 1 else { throw TensorError("smia: kernel_size must be a positive odd number, got \(size)") }
            guard sigma > 0, sigma.isFinite else { throw TensorError("smia: sigma must be positive, got \(sigma)") }
        }
    }

    func smooth(_ step: Tensor) throws -> Tensor {
        switch kernel {
        case let .gaussian(size, sigma): return try Tensor.gaussianBlur(step, size: size, sigma: sigma)
        case .gkern: return try SMIAOfficialKernel.apply(step)
        }
    }
}

/// The target computed after one iteration's gradient for the next: the model's output on
/// x̃ₜ + W∗s. One per attack, overwritten at every iteration of every run.
final class SMIAOfficialTarget {
    var output: Tensor?
}

extension GradientAttacks {
    /// The authors' variant of SMIA (`SMIAOfficialOptions`); `projection` is `.none` as theirs.
    public static func smiaOfficial(eps: Float, step: Float, steps: Int, options: SMIAOfficialOptions = SMIAOfficialOptions(),
                                    projection: Projection = .none) -> IterativeAttack {
        let target = SMIAOfficialTarget()
        var a = IterativeAttack(name: "smia", loss: { context in
            let deviation = try context.taskLoss(context.output)
            guard context.iteration >= 2, options.alpha != 0 else { return deviation }
            guard let previous = target.output else {
                throw TensorError("smia: no stabilization target from iteration \(context.iteration - 1)")
            }
            return try deviation - context.task.stabilization(context.output, target: previous, hard: true) * options.alpha
        })
        a.afterStep = { context, applied in
            // Iteration 1 starts a run: no target of an earlier run may leak into it.
            if context.iteration == 1 { target.output = nil }
            guard options.alpha != 0, context.iteration < steps else { return }
            let images = try context.current.detached() + options.smooth(applied)
            target.output = try withoutGrad { try context.forward(images) }
        }
        a.eps = eps
        a.steps = steps
        a.stepSize = { _ in step }
        a.projection = projection
        return a
    }
}
