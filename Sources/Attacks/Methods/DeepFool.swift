import Foundation
import Tensor

/// DeepFool (Moosavi-Dezfooli et al.): at each step, the smallest move to the nearest class
/// boundary of the linearized classifier. Batched. As in the paper, the steps accumulate into
/// r and the image is x + (1 + overshoot)·r (clipped to the valid range), so the overshoot
/// carries the image past the boundary. (torchattacks instead scales each step and can stop
/// exactly on the boundary, with the prediction unchanged.) A sample stops once its
/// prediction changes. The first step is at the clean images: its logits come back as
/// `AttackResult.cleanOutput`.
public struct DeepFool {
    public var steps = 50
    public var overshoot: Float = 0.02
    /// .l2 (the original) or .linf.
    public var norm: Projection = .l2
    public var range: (Float, Float) = (0, 1)
    public var interrupted: () -> Bool = { false }

    public init() {}

    public func run(model: Module, images: Tensor, labels: Tensor) throws -> AttackResult {
        let started = Date()
        guard steps >= 1 else { throw TensorError("deepfool: steps must be at least 1, got \(steps)") }
        guard overshoot >= 0, overshoot.isFinite else { throw TensorError("deepfool: overshoot must be >= 0, got \(overshoot)") }
        guard norm != .none else { throw TensorError("deepfool: norm must be l2 or linf") }
        guard images.rank == 4, images.shape[0] > 0 else {
            throw TensorError("deepfool: expected images of size (N, C, H, W) with N >= 1, got \(describeShape(images.shape))")
        }
        let n = images.shape[0]
        let sampleSize = images.count / n
        let clean = images.storage
        var adversarial = clean
        var total = [Float](repeating: 0, count: images.count)
        var active = Array(0..<n)
        var forwards = 0, gradients = 0
        var cleanOutput: Tensor?
        for _ in 0..<steps where !active.isEmpty {
            if interrupted() { throw TensorError("deepfool: interrupted") }
            let x = try Tensor(shape: [active.count] + Array(images.shape.dropFirst()),
                               storage: active.flatMap { adversarial[($0 * sampleSize)..<(($0 + 1) * sampleSize)] })
            x.requiresGrad = true
            let logits = try model(x)
            if cleanOutput == nil { cleanOutput = logits.detached() }
            forwards += active.count
            try AttackTask.classification.check(output: logits, labels: try labels.indexSelect(dim: 0, indices: Tensor(shape: [active.count], storage: active.map(Float.init))), op: "deepfool")
            let k = logits.shape[1]
            let predicted = try logits.argmax(dim: 1).storage
            // Gradient of each class logit, for all active samples at once.
            var jacobian: [[Float]] = []
            for c in 0..<k {
                var seed = [Float](repeating: 0, count: active.count * k)
                for i in 0..<active.count { seed[i * k + c] = 1 }
                jacobian.append(try grad(of: logits, wrt: [x], seed: Tensor(shape: logits.shape, storage: seed))[0].storage)
                gradients += active.count
            }
            var stillActive: [Int] = []
            for (i, sample) in active.enumerated() {
                let label = Int(labels.storage[sample])
                if Int(predicted[i]) != label { continue }
                stillActive.append(sample)
                let f0 = logits.storage[i * k + label]
                let w0 = jacobian[label][(i * sampleSize)..<((i + 1) * sampleSize)]
                var bestValue = Float.infinity, bestClass = -1
                var bestW: [Float] = [], bestF: Float = 0, bestNorm: Float = 0
                for c in 0..<k where c != label {
                    let fPrime = logits.storage[i * k + c] - f0
                    let wc = jacobian[c][(i * sampleSize)..<((i + 1) * sampleSize)]
                    let wPrime = zip(wc, w0).map { $0 - $1 }
                    let wNorm = norm == .l2 ? wPrime.reduce(0) { $0 + $1 * $1 }.squareRoot() : wPrime.reduce(0) { $0 + Swift.abs($1) }
                    let value = Swift.abs(fPrime) / wNorm
                    if value < bestValue || bestClass < 0 {
                        (bestValue, bestClass, bestW, bestF, bestNorm) = (value, c, wPrime, fPrime, wNorm)
                    }
                }
                guard bestClass >= 0 else { continue }
                // The paper's step, with its 1e-4 to move strictly past the linearized boundary.
                let base = sample * sampleSize
                let distance = Swift.abs(bestF) + 1e-4
                for j in 0..<sampleSize {
                    total[base + j] += norm == .l2 ? distance * bestW[j] / (bestNorm * bestNorm)
                                                   : distance / bestNorm * (bestW[j] > 0 ? 1 : (bestW[j] < 0 ? -1 : 0))
                    let moved = clean[base + j] + (1 + overshoot) * total[base + j]
                    adversarial[base + j] = Swift.min(Swift.max(moved, range.0), range.1)
                }
            }
            active = stillActive
        }
        return AttackResult(adversarial: try Tensor(shape: images.shape, storage: adversarial), updates: [], losses: [],
                            forwards: forwards, gradients: gradients, seconds: Date().timeIntervalSince(started),
                            cleanOutput: cleanOutput)
    }
}
