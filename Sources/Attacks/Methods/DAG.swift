import Foundation
import Tensor

/// A model seen as a set of targets with class scores each: the pixels of a segmenter, the
/// proposals of a detector, the one image of a classifier. DAG attacks any conformer.
public protocol TargetScorer {
    /// The model the attack runs on the images.
    var model: Module { get }
    /// Class scores per target, (N, K, T), class dimension 1 as cross-entropy takes it, from the
    /// model's output on N images (recorded, and so are the scores, so that gradients reach the
    /// images). `samples` are the positions of these images in the batch the attack was given
    /// (DAG drops finished samples), for a scorer that keeps per-image state, such as a
    /// detector's fixed proposals.
    func scores(output: Tensor, samples: [Int]) throws -> Tensor
}

/// A segmenter's pixels as targets: logits (N, K, H, W) seen as (N, K, H·W).
public struct SegmentationTargets: TargetScorer {
    public let model: Module
    public init(model: Module) { self.model = model }

    public func scores(output: Tensor, samples: [Int]) throws -> Tensor {
        guard output.rank == 4 else {
            throw TensorError("dag: a segmenter must output (N, K, H, W) logits, got size \(describeShape(output.shape))")
        }
        return try output.reshaped([output.shape[0], output.shape[1], -1])
    }
}

/// How DAG picks each target's adversarial label l′ (which must differ from its true label l).
public enum DAGLabels {
    /// The best-scoring class other than l on the clean image (the default).
    case runnerUp
    /// (l + k) mod K.
    case shifted(by: Int)
    /// l′ = map[l]: a permutation of the classes, or any map without fixed points.
    case mapped([Int])
    /// Given per target: (N, T), or (N, H, W) for a segmenter. A target whose l′ equals l is
    /// left alone.
    case given(Tensor)
}

/// DAG, Dense Adversary Generation (Xie et al., ICCV 2017), for segmentation, detection
/// (`run(detector:images:labels:)`, `DetectionTargets`) and, through `TargetScorer`, any model
/// with per-target scores.
///
/// Per sample, with r = 0 and x′ = x, for m = 1 ... `steps`:
/// - the active targets T_m are those still predicted as their true label l (with
///   `targeted`, those not yet predicted as their adversarial label l′); stop when there are none;
/// - r_m = Σ_{t ∈ T_m} [∇Z_{l′}(x′, t) − ∇Z_l(x′, t)], normalized r′_m = γ·r_m / ||r_m||∞;
/// - x′ ← P(x′ + r′_m): clipped to `range`, and projected onto the L∞ ball of radius `eps`
///   around x when `eps` is set (to compare with SMIA at the same budget; the paper has none).
/// γ and the 200 iterations follow the paper: its γ = 0.5 is in the 0–255 pixel units of its
/// Caffe inputs, so the default here is 0.5/255 for images in [0, 1]. The paper draws l′ for each target as some
/// other class; the default here is the runner-up class on the clean image (the cheapest
/// other class to reach), and `DAGLabels` gives the alternatives.
/// Targets predicted wrong from the start are never active, as in the paper. The samples are
/// independent (one backward pass for the batch through a seeded gradient), so the model must
/// be in eval mode; finished samples drop out of the batch.
public struct DAG {
    public var steps = 200
    /// γ, the L∞ size of each normalized step, in image units (the paper's 0.5 of 255).
    public var gamma: Float = 0.5 / 255
    /// Optional L∞ budget around the clean image.
    public var eps: Float?
    public var adversarialLabels: DAGLabels = .runnerUp
    /// Push every target to its l′ instead of stopping once it leaves l.
    public var targeted = false
    /// Targets with this label are never attacked (padding, "void" pixels).
    public var ignoreIndex: Int?
    public var range: (Float, Float) = (0, 1)
    /// Keeps every applied update, for the Var and Cos metrics.
    public var recordUpdates = false
    /// Polled between iterations; true stops the attack with an error (Ctrl-C).
    public var interrupted: () -> Bool = { false }

    public init() {}

    public func validate() throws {
        guard steps >= 1 else { throw TensorError("dag: steps must be at least 1, got \(steps)") }
        guard gamma > 0, gamma.isFinite else { throw TensorError("dag: gamma must be a finite number > 0, got \(gamma)") }
        if let eps { guard eps >= 0, eps.isFinite else { throw TensorError("dag: eps must be a finite number >= 0, got \(eps)") } }
        guard range.0 < range.1 else { throw TensorError("dag: range must have min < max, got [\(range.0), \(range.1)]") }
        if let ignoreIndex {
            guard Swift.abs(ignoreIndex) < classIndexLimit else {
                throw TensorError("dag: ignore_index must be an integer below 2^24 in size, got \(ignoreIndex)")
            }
        }
    }

    /// Attacks a segmenter: labels (N, H, W).
    public func run(model: Module, images: Tensor, labels: Tensor) throws -> AttackResult {
        guard labels.rank == 3, images.rank == 4, labels.shape[0] == images.shape[0] else {
            throw TensorError("dag: expected labels of size (N, H, W) for images \(describeShape(images.shape)), got \(describeShape(labels.shape))")
        }
        var attack = self
        if case .given(let target) = adversarialLabels {
            guard target.shape == labels.shape else {
                throw TensorError("dag: expected adversarial labels of size \(describeShape(labels.shape)), got \(describeShape(target.shape))")
            }
            attack.adversarialLabels = .given(try target.reshaped([labels.shape[0], -1]))
        }
        return try attack.run(scorer: SegmentationTargets(model: model), images: images, labels: labels.reshaped([labels.shape[0], -1]))
    }

    /// Attacks any scorer: labels (N, T), the true class of each target. `cleanForward`, the
    /// model's output on the clean images recorded with `images` (a leaf equal to them that
    /// needs a gradient) as its input, serves as the first iteration's forward pass. That pass
    /// is at the clean images, so its output comes back as `AttackResult.cleanOutput`.
    public func run(scorer: TargetScorer, images: Tensor, labels: Tensor,
                    cleanForward: (images: Tensor, output: Tensor)? = nil) throws -> AttackResult {
        try validate()
        let started = Date()
        let n = images.shape.first ?? 0
        try checkImageBatch(images, op: "dag")
        let sampleSize = images.count / n
        let clean = images.detached()
        let projection: Projection = eps == nil ? .none : .linf
        let radius = eps ?? 0
        var adversarial = clean.storage
        var updates: [[Float]] = []
        var losses: [Float] = []
        var forwards = 0, gradients = 0
        var active = Array(0..<n)
        var chosen: [Int] = []        // l′ per target, N·T, fixed at the first iteration
        var k = 0, t = 0
        var cleanOutput: Tensor?

        for iteration in 1...steps where !active.isEmpty {
            if interrupted() { throw TensorError("dag: interrupted") }
            let x: Tensor, output: Tensor
            if iteration == 1, let primed = cleanForward {
                (x, output) = primed
            } else {
                x = try Tensor(shape: [active.count] + Array(images.shape.dropFirst()),
                               storage: active.flatMap { adversarial[($0 * sampleSize)..<(($0 + 1) * sampleSize)] })
                x.requiresGrad = true
                output = try scorer.model(x)
            }
            let scores = try scorer.scores(output: output, samples: active)
            forwards += active.count
            if iteration == 1 {
                cleanOutput = output.detached()
                (k, t) = try checkScores(scores, labels: labels, count: n)
                chosen = try adversarialTargets(scores.detached(), labels: labels, classes: k, targets: t)
            }
            // Active targets and the seed +1 at l′, −1 at l.
            var seed = [Float](repeating: 0, count: scores.count)
            var objective: Float = 0
            var stillActive: [Int] = []
            for (i, sample) in active.enumerated() {
                var any = false
                for target in 0..<t {
                    let label = Int(labels.storage[sample * t + target])
                    let adversarialLabel = chosen[sample * t + target]
                    guard label != ignoreIndex, adversarialLabel != label else { continue }
                    var top = 0
                    for c in 1..<k where scores.storage[(i * k + c) * t + target] > scores.storage[(i * k + top) * t + target] { top = c }
                    guard targeted ? top != adversarialLabel : top == label else { continue }
                    any = true
                    seed[(i * k + adversarialLabel) * t + target] += 1
                    seed[(i * k + label) * t + target] -= 1
                    objective += scores.storage[(i * k + adversarialLabel) * t + target] - scores.storage[(i * k + label) * t + target]
                }
                if any { stillActive.append(i) }
            }
            losses.append(objective / Float(n))
            if stillActive.isEmpty { active = []; break }
            let r = try grad(of: scores, wrt: [x], seed: Tensor(shape: scores.shape, storage: seed))[0]
            gradients += active.count
            let finished = Set(active.indices).subtracting(stillActive)
            var update = [Float](repeating: 0, count: recordUpdates ? images.count : 0)
            for i in stillActive {
                let sample = active[i]
                let slice = (i * sampleSize)..<((i + 1) * sampleSize)
                let largest = r.storage[slice].reduce(0) { Swift.max($0, Swift.abs($1)) }
                guard largest > 0, largest.isFinite else { continue }
                let scale = gamma / largest
                let base = sample * sampleSize
                for (j, g) in zip(0..<sampleSize, r.storage[slice]) {
                    var value = adversarial[base + j] + scale * g
                    if projection == .linf {
                        value = Swift.min(Swift.max(value, clean.storage[base + j] - radius), clean.storage[base + j] + radius)
                    }
                    value = Swift.min(Swift.max(value, range.0), range.1)
                    if recordUpdates { update[base + j] = value - adversarial[base + j] }
                    adversarial[base + j] = value
                }
            }
            if recordUpdates { updates.append(update) }
            active = active.enumerated().filter { !finished.contains($0.offset) }.map(\.element)
        }
        return AttackResult(adversarial: try Tensor(shape: images.shape, storage: adversarial),
                            updates: try updates.map { try Tensor(shape: images.shape, storage: $0) }, losses: losses,
                            forwards: forwards, gradients: gradients, seconds: Date().timeIntervalSince(started),
                            cleanOutput: cleanOutput)
    }

    /// (K, T) of the scores, after checking them and the labels.
    private func checkScores(_ scores: Tensor, labels: Tensor, count n: Int) throws -> (Int, Int) {
        guard scores.rank == 3, scores.shape[0] == n else {
            throw TensorError("dag: a target scorer must return (N, K, T) scores with N = \(n), got size \(describeShape(scores.shape))")
        }
        let (k, t) = (scores.shape[1], scores.shape[2])
        guard k >= 2 else { throw TensorError("dag: the model must score at least 2 classes, got \(k)") }
        guard labels.shape == [n, t] else {
            throw TensorError("dag: expected labels of size \(n)x\(t) for scores \(describeShape(scores.shape)), got \(describeShape(labels.shape))")
        }
        if let bad = labels.storage.first(where: { v in !(v >= 0 && v < Float(k) && v == v.rounded()) && !(ignoreIndex.map { Float($0) == v } ?? false) }) {
            throw TensorError("dag: expected labels that are class indices in 0..\(k - 1)\(ignoreIndex.map { " or \($0)" } ?? ""), got \(bad)")
        }
        return (k, t)
    }

    /// l′ for every target of every sample, from the clean scores (N, K, T).
    private func adversarialTargets(_ scores: Tensor, labels: Tensor, classes k: Int, targets t: Int) throws -> [Int] {
        let labels = labels.storage.map { Int($0) }
        switch adversarialLabels {
        case .runnerUp:
            return labels.indices.map { index in
                let (sample, target) = index.quotientAndRemainder(dividingBy: t)
                var best = -1
                for c in 0..<k where c != labels[index] {
                    if best < 0 || scores.storage[(sample * k + c) * t + target] > scores.storage[(sample * k + best) * t + target] { best = c }
                }
                return best
            }
        case .shifted(let by):
            let shift = (by % k + k) % k
            guard shift != 0 else { throw TensorError("dag: a shift of \(by) maps every class of \(k) to itself") }
            return labels.map { $0 >= 0 && $0 < k ? ($0 + shift) % k : $0 }
        case .mapped(let map):
            guard map.count == k, map.allSatisfy({ $0 >= 0 && $0 < k }) else {
                throw TensorError("dag: expected a class map of \(k) classes in 0..\(k - 1), got \(map)")
            }
            return labels.map { $0 >= 0 && $0 < k ? map[$0] : $0 }
        case .given(let given):
            guard given.shape == [labels.count / t, t] else {
                throw TensorError("dag: expected adversarial labels of size \(labels.count / t)x\(t), got \(describeShape(given.shape))")
            }
            if let bad = given.storage.first(where: { !($0 >= 0 && $0 < Float(k) && $0 == $0.rounded()) }) {
                throw TensorError("dag: expected adversarial labels that are class indices in 0..\(k - 1), got \(bad)")
            }
            return given.storage.map { Int($0) }
        }
    }
}
