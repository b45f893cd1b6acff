import Foundation

/// CenterNet's penalty-reduced focal loss (Zhou et al., "Objects as Points", after Law & Deng's
/// CornerNet) on heatmap logits. With p = sigmoid(logit) and a target heatmap t in [0, 1]:
///
///     t = 1:  -(1 - p)^alpha · log(p)
///     t < 1:  -(1 - t)^beta · p^alpha · log(1 - p)
///
/// Positions near an object's centre (t close to 1) are penalised little for predicting one.
/// The logs are taken from the logits (log p = -softplus(-z), `LogisticValues`), so a confident
/// logit cannot produce log(0); CenterNet clamps p to [1e-4, 1 - 1e-4] instead. The rest is
/// computed in double precision.

extension Tensor {
    /// Loss per position with `reduction` `.none`, their sum, or their mean over all positions.
    /// CenterNet divides the sum by the number of positives (t = 1): `positiveCount(of:)`.
    /// The target gets no gradient.
    public static func focalLoss(_ logits: Tensor, _ target: Tensor, alpha: Float = 2, beta: Float = 4,
                                 reduction: Reduction = .mean) throws -> Tensor {
        guard logits.shape == target.shape else {
            throw TensorError("focal_loss: expected target of the logits' size \(describeShape(logits.shape)), got \(describeShape(target.shape))")
        }
        guard alpha >= 0, beta >= 0, alpha.isFinite, beta.isFinite else {
            throw TensorError("focal_loss: alpha and beta must be finite and >= 0, got \(alpha) and \(beta)")
        }
        if let bad = target.storage.first(where: { !($0 >= 0 && $0 <= 1) }) {
            throw TensorError("focal_loss: expected target values in [0, 1], got \(bad)")
        }
        let count = logits.count
        var loss = [Float](repeating: 0, count: count)
        var slope = [Float](repeating: 0, count: count)  // d loss / d logit
        let logistic = LogisticValues(logits.storage, p: true, q: true, logP: true, logQ: true)
        target.storage.withUnsafeBufferPointer { pt in
            loss.withUnsafeMutableBufferPointer { loss in
                slope.withUnsafeMutableBufferPointer { slope in
                    parallelRanges(count, cost: 8) { r in
                        for i in r {
                            let t = Double(pt[i]), p = Double(logistic.p[i]), q = Double(logistic.q[i])
                            if t == 1 {
                                let logP = Double(logistic.logP[i])
                                let qa = power(q, alpha)
                                loss[i] = Float(-qa * logP)
                                // d/dz: alpha (1-p)^(alpha-1) p (1-p) log p - (1-p)^alpha (1-p)
                                slope[i] = Float(qa * (Double(alpha) * p * logP - q))
                            } else {
                                let log1mP = Double(logistic.logQ[i]), w = power(1 - t, beta)
                                let pa = power(p, alpha)
                                loss[i] = Float(-w * pa * log1mP)
                                // d/dz: -w [alpha p^(alpha-1) p (1-p) log(1-p) - p^alpha p]
                                slope[i] = Float(w * pa * (p - Double(alpha) * q * log1mP))
                            }
                        }
                    }
                }
            }
        }
        let z = logits
        let perPosition = Tensor(uncheckedShape: logits.shape, storage: loss).recording("focal_loss", [z]) { g, _ in
            [try g * Tensor(uncheckedShape: z.shape, storage: slope)]
        }
        switch reduction {
        case .none: return perPosition
        case .sum: return perPosition.sum()
        case .mean: return try perPosition.mean()
        }
    }

    /// The number of positions where a heatmap target is exactly 1 (object centres).
    public static func positiveCount(of target: Tensor) -> Int {
        target.storage.reduce(0) { $0 + ($1 == 1 ? 1 : 0) }
    }
}

/// x^e, by multiplication for CenterNet's exponents (2 and 4, the defaults): `pow` is the
/// larger part of the loss's time and gives the same value for them to within an ulp of a double.
private func power(_ x: Double, _ e: Float) -> Double {
    switch e {
    case 1: return x
    case 2: return x * x
    case 4: let s = x * x; return s * s
    default: return Foundation.pow(x, Double(e))
    }
}
