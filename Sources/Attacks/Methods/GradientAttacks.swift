import Tensor

/// The sign-gradient family, each a configuration of the one iterative driver.
public enum GradientAttacks {
    /// The task loss (cross-entropy), ascended.
    public static let taskLoss: AttackLoss = { context in try context.taskLoss(context.output) }

    /// FGSM: one step of size eps along the gradient's sign.
    public static func fgsm(eps: Float) -> IterativeAttack {
        var a = IterativeAttack(name: "fgsm", loss: taskLoss)
        a.eps = eps
        a.steps = 1
        a.stepSize = { _ in eps }
        return a
    }

    /// BIM (iterative FGSM): PGD without a random start.
    public static func bim(eps: Float, step: Float, steps: Int) -> IterativeAttack {
        var a = pgd(eps: eps, step: step, steps: steps, randomStart: false)
        a.name = "bim"
        return a
    }

    /// PGD in the L∞ ball (Madry et al.), or in the L2 ball with normalized steps.
    public static func pgd(eps: Float, step: Float, steps: Int, randomStart: Bool = true, norm: Projection = .linf) -> IterativeAttack {
        var a = IterativeAttack(name: norm == .l2 ? "pgd_l2" : "pgd", loss: taskLoss)
        a.eps = eps
        a.steps = steps
        a.stepSize = { _ in step }
        a.randomStart = randomStart
        a.projection = norm
        a.stepRule = norm == .l2 ? .l2 : .sign
        return a
    }

    /// MI-FGSM: sign steps on an accumulated, L1-normalized gradient.
    public static func mifgsm(eps: Float, step: Float, steps: Int, decay: Float = 1) -> IterativeAttack {
        var a = pgd(eps: eps, step: step, steps: steps, randomStart: false)
        a.name = "mifgsm"
        a.stepRule = .momentum(decay: decay)
        return a
    }

    /// SMIA (Qi et al., ICLR 2021): sign steps on the deviation minus the stabilization term.
    public static func smia(eps: Float, step: Float, steps: Int, options: SMIAOptions = SMIAOptions(),
                            projection: Projection = .linf) -> IterativeAttack {
        var a = IterativeAttack(name: options.alpha == 0 ? "dev" : "smia", loss: smiaLoss(options))
        a.companion = smiaCompanion(options)
        a.eps = eps
        a.steps = steps
        a.stepSize = { _ in step }
        a.projection = projection
        return a
    }

    /// DEV: SMIA with α = 0, the deviation term alone (iterative FGSM on the task loss).
    public static func dev(eps: Float, step: Float, steps: Int, projection: Projection = .linf) -> IterativeAttack {
        var options = SMIAOptions()
        options.alpha = 0
        return smia(eps: eps, step: step, steps: steps, options: options, projection: projection)
    }
}
