import Foundation
import Tensor

/// Carlini & Wagner's L2 attack (S&P 2017) on a classifier.
///
/// The image is x' = lo + (hi − lo)·(tanh(w) + 1)/2, so it never leaves the valid range, and
/// Adam minimizes, per sample, ||x' − x||² + c·f(x') over w, with
/// f = max(Z_y − max_{i≠y} Z_i, −κ) (untargeted: push the true class y below another) or
/// f = max(max_{i≠t} Z_i − Z_t, −κ) (targeted: lift the target t above the others).
///
/// Semantics follow torchattacks' `CW` (defaults c = 1, κ = 0, 50 steps, lr 0.01; the loss
/// summed over the batch; success and the best image judged on the logits of each step's
/// forward pass, before that step's update; the run stops when the total cost has not
/// decreased since the previous check, made every max(steps / 10, 1) steps), with these
/// choices where torchattacks departs from the paper or leaves a gap:
/// - max_{i≠y} Z_i is the maximum over the other classes. torchattacks takes the maximum of
///   (1 − onehot)·Z, which is 0 instead when every other logit is negative.
/// - w starts at atanh((2x − 1)·(1 − 1e-6)) as in Carlini's code, not atanh(2x − 1): pixels at
///   exactly 0 or 1 (common in medical images) would start at ±∞ and never move.
/// - A step counts as a success as in Carlini's `compare`: with the margin κ
///   (untargeted: max_{i≠y} Z_i > Z_y + κ, up to argmax ties; targeted: Z_t − κ above the others),
///   so a large κ keeps only confident adversarials. With κ = 0 it is the changed prediction.
/// - Binary search over c per sample (Carlini's `binary_search_steps`; torchattacks has none,
///   which is `searchSteps = 1`): after each search step, a sample that succeeded sets its
///   upper bound to c and tries the midpoint; one that failed sets its lower bound to c and tries
///   the midpoint, or 10·c while no success bounds it. Each search step restarts Adam and w.
/// - A sample keeps, over all search steps, its successful image with the smallest L2; a sample
///   that never succeeds gets its clean image back (both implementations do this).
public struct CarliniWagner {
    public var steps = 50
    /// The first constant c of every sample.
    public var c: Float = 1
    /// Confidence margin κ ≥ 0.
    public var kappa: Float = 0
    /// Adam's learning rate (β = 0.9, 0.999, ε = 1e-8, as PyTorch's defaults).
    public var learningRate: Float = 0.01
    /// Rounds of the binary search over c; 1 runs once with `c`.
    public var searchSteps = 1
    /// Stop a search step when the cost stops decreasing (checked every max(steps / 10, 1) steps).
    public var abortEarly = true
    /// The labels are target classes to reach.
    public var targeted = false
    public var range: (Float, Float) = (0, 1)
    /// Polled between steps; true stops the attack with an error (Ctrl-C).
    public var interrupted: () -> Bool = { false }

    public init() {}

    /// What the search found, per sample.
    public struct Outcome {
        public let result: AttackResult
        /// Whether any step reached the goal (with margin κ).
        public let success: [Bool]
        /// ||x' − x||₂ of the returned image (0 for a sample that failed).
        public let l2: [Float]
        /// The smallest c that succeeded, or the largest c tried for a sample that never did.
        public let constants: [Float]
        /// f of the last iterate of the last search step, before clamping at −κ:
        /// Z_y − max_{i≠y} Z_i (untargeted) or max_{i≠t} Z_i − Z_t (targeted); negative once
        /// the goal is reached.
        public let finalMargins: [Float]
    }

    public func validate() throws {
        guard steps >= 1 else { throw TensorError("cw: steps must be at least 1, got \(steps)") }
        guard searchSteps >= 1 else { throw TensorError("cw: search_steps must be at least 1, got \(searchSteps)") }
        guard c > 0, c.isFinite else { throw TensorError("cw: c must be a finite number > 0, got \(c)") }
        guard kappa >= 0, kappa.isFinite else { throw TensorError("cw: kappa must be a finite number >= 0, got \(kappa)") }
        guard learningRate > 0, learningRate.isFinite else {
            throw TensorError("cw: lr must be a finite number > 0, got \(learningRate)")
        }
        guard range.0 < range.1, range.0.isFinite, range.1.isFinite else {
            throw TensorError("cw: range must have finite min < max, got [\(range.0), \(range.1)]")
        }
    }

    public func run(model: Module, images: Tensor, labels: Tensor) throws -> AttackResult {
        try search(model: model, images: images, labels: labels).result
    }

    public func search(model: Module, images: Tensor, labels: Tensor) throws -> Outcome {
        try validate()
        let started = Date()
        try checkImageBatch(images, op: "cw")
        if let bad = images.storage.first(where: { $0 < range.0 || $0 > range.1 }) {
            throw TensorError("cw: expected images with values in [\(range.0), \(range.1)], got \(bad)")
        }
        let n = images.shape[0]
        let counters = AttackCounters()
        let clean = images.detached()
        let (lo, hi) = range
        // x = lo + (hi − lo)(tanh(w) + 1)/2, started just inside the open interval.
        let start = try withoutGrad {
            try ((clean - lo) / (hi - lo) * 2 - 1) * (1 - 1e-6)
        }.storage.map { atanhf($0) }
        let w0 = try Tensor(shape: clean.shape, storage: start)

        var constants = [Float](repeating: c, count: n)
        var lower = [Float](repeating: 0, count: n)
        var upper = [Float](repeating: 1e10, count: n)
        var bestL2 = [Float](repeating: .infinity, count: n)   // squared
        var best = clean
        var everSucceeded = [Bool](repeating: false, count: n)
        var smallestSuccessfulC = [Float](repeating: .infinity, count: n)
        var losses: [Float] = []
        var finalMargins = [Float](repeating: 0, count: n)
        var labelsChecked = false

        for _ in 0..<searchSteps {
            var w = w0
            var adam = StepState(.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8))
            let cTensor = try Tensor(shape: [n], storage: constants)
            var succeededThisRound = [Bool](repeating: false, count: n)
            var previousCost = Float.infinity
            for step in 0..<steps {
                if interrupted() { throw TensorError("cw: interrupted") }
                let variable = w.detached()
                variable.requiresGrad = true
                let adversarial = try (variable.tanh() + 1) * ((hi - lo) / 2) + lo
                let difference = try (adversarial - clean).flattened(from: 1)
                let l2 = try (difference * difference).sum(dim: 1)
                let logits = try model(adversarial)
                counters.forwards += n
                if !labelsChecked {
                    try AttackTask.classification.check(output: logits, labels: labels, op: "cw")
                    guard logits.shape[1] >= 2 else {
                        throw TensorError("cw: the model must score at least 2 classes, got \(logits.shape[1])")
                    }
                    labelsChecked = true
                }
                let margin = try margins(logits, labels)
                let cost = try (l2 + margin.clamp(min: -kappa, max: nil) * cTensor).sum()
                let value = try cost.item()
                guard value.isFinite else { throw TensorError("cw: the cost is \(value) at step \(step + 1)") }
                let gradient = try grad(of: cost, wrt: [variable])[0]
                counters.gradients += n
                losses.append(value / Float(n))
                finalMargins = margin.storage

                // Judge this step's image on its own logits, before the update.
                let reached = try goalReached(logits, labels)
                var improved = [Bool](repeating: false, count: n)
                for i in 0..<n where reached[i] {
                    succeededThisRound[i] = true
                    if l2.storage[i] < bestL2[i] {
                        bestL2[i] = l2.storage[i]
                        improved[i] = true
                    }
                }
                if improved.contains(true) {
                    best = try Tensor.selectSamples(improved, adversarial.detached(), best)
                }

                w = try w - adam.direction(gradient) * learningRate
                if abortEarly, step % Swift.max(steps / 10, 1) == 0 {
                    if value > previousCost { break }
                    previousCost = value
                }
            }
            // Carlini's update of the bounds and the constants.
            for i in 0..<n {
                if succeededThisRound[i] {
                    everSucceeded[i] = true
                    smallestSuccessfulC[i] = Swift.min(smallestSuccessfulC[i], constants[i])
                    upper[i] = Swift.min(upper[i], constants[i])
                    if upper[i] < 1e9 { constants[i] = (lower[i] + upper[i]) / 2 }
                } else {
                    lower[i] = Swift.max(lower[i], constants[i])
                    constants[i] = upper[i] < 1e9 ? (lower[i] + upper[i]) / 2 : constants[i] * 10
                }
            }
        }
        let result = AttackResult(adversarial: best, updates: [], losses: losses, forwards: counters.forwards,
                                  gradients: counters.gradients, seconds: Date().timeIntervalSince(started))
        return Outcome(result: result, success: everSucceeded,
                       l2: bestL2.map { $0.isFinite ? $0.squareRoot() : 0 },
                       constants: (0..<n).map { everSucceeded[$0] ? smallestSuccessfulC[$0] : lower[$0] },
                       finalMargins: finalMargins)
    }

    /// f before clamping, per sample (N): Z_y − max_{i≠y} Z_i, or max_{i≠t} Z_i − Z_t when targeted.
    func margins(_ logits: Tensor, _ labels: Tensor) throws -> Tensor {
        let (n, k) = (logits.shape[0], logits.shape[1])
        var oneHot = [Float](repeating: 0, count: n * k)
        for i in 0..<n { oneHot[i * k + Int(labels.storage[i])] = 1 }
        let mask = try Tensor(shape: [n, k], storage: oneHot)
        let own = try (logits * mask).sum(dim: 1)
        let others = try Tensor.select(where: mask, Tensor(scalar: -Float.greatestFiniteMagnitude), logits).max(dim: 1).values
        return targeted ? try others - own : try own - others
    }

    /// Carlini's `compare`: the goal reached with margin κ, decided by argmax.
    func goalReached(_ logits: Tensor, _ labels: Tensor) throws -> [Bool] {
        let (n, k) = (logits.shape[0], logits.shape[1])
        return (0..<n).map { i in
            let label = Int(labels.storage[i])
            var row = Array(logits.storage[(i * k)..<((i + 1) * k)])
            row[label] += targeted ? -kappa : kappa
            var top = 0
            for j in 1..<k where row[j] > row[top] { top = j }
            return targeted ? top == label : top != label
        }
    }
}
