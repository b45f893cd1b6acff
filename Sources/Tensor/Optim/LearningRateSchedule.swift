import Foundation

/// A learning rate as a function of the step: the number of optimizer steps already taken
/// (0 for the first), as PyTorch's schedulers count them. Schedules are values; `warmup` wraps
/// another one.
public struct LearningRateSchedule: CustomStringConvertible {
    public let description: String
    private let rate: (Int) -> Double

    private init(_ description: String, _ rate: @escaping (Int) -> Double) {
        self.description = description
        self.rate = rate
    }

    /// The learning rate for step `step` (negative steps count as 0).
    public func callAsFunction(_ step: Int) -> Double { rate(Swift.max(step, 0)) }

    public static func constant(_ lr: Double) throws -> LearningRateSchedule {
        try check(lr, "lr", "constant")
        return LearningRateSchedule("constant(lr=\(lr))") { _ in lr }
    }

    /// `lr · gamma^k`, k the number of decays passed: one every `every` steps (StepLR), or one at
    /// each of `milestones` (MultiStepLR).
    public static func stepDecay(lr: Double, every: Int? = nil, milestones: [Int] = [], gamma: Double = 0.1) throws -> LearningRateSchedule {
        try check(lr, "lr", "step")
        try check(gamma, "gamma", "step")
        guard (every == nil) != milestones.isEmpty else {
            throw TensorError("step: give either a step size or milestones")
        }
        if let every {
            guard every > 0 else { throw TensorError("step: step size must be positive, got \(every)") }
            return LearningRateSchedule("step(lr=\(lr), every=\(every), gamma=\(gamma))") { t in
                lr * Foundation.pow(gamma, Double(t / every))
            }
        }
        guard milestones.allSatisfy({ $0 > 0 }), milestones == milestones.sorted() else {
            throw TensorError("step: milestones must be positive and increasing, got \(milestones)")
        }
        return LearningRateSchedule("step(lr=\(lr), milestones=\(milestones), gamma=\(gamma))") { t in
            lr * Foundation.pow(gamma, Double(milestones.filter { $0 <= t }.count))
        }
    }

    /// Cosine annealing from `lr` at step 0 to `minimum` at step `steps` (CosineAnnealingLR
    /// without restarts), staying at `minimum` after.
    public static func cosine(lr: Double, steps: Int, minimum: Double = 0) throws -> LearningRateSchedule {
        try check(lr, "lr", "cosine")
        try check(minimum, "min", "cosine")
        guard steps > 0 else { throw TensorError("cosine: steps must be positive, got \(steps)") }
        return LearningRateSchedule("cosine(lr=\(lr), steps=\(steps), min=\(minimum))") { t in
            let progress = Double(Swift.min(t, steps)) / Double(steps)
            return minimum + (lr - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2
        }
    }

    /// A linear ramp over the first `steps` steps, `after(0)·(t + 1)/steps` (so the first step
    /// already learns), then `after` shifted to start where the ramp ends.
    public static func warmup(steps: Int, then after: LearningRateSchedule) throws -> LearningRateSchedule {
        guard steps > 0 else { throw TensorError("warmup: steps must be positive, got \(steps)") }
        return LearningRateSchedule("warmup(steps=\(steps), then \(after))") { t in
            t < steps ? after(0) * Double(t + 1) / Double(steps) : after(t - steps)
        }
    }

    private static func check(_ value: Double, _ name: String, _ op: String) throws {
        guard value.isFinite, value >= 0 else {
            throw TensorError("\(op): \(name) must be a finite number >= 0, got \(value)")
        }
    }
}
