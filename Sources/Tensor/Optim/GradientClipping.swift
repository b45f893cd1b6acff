/// Gradient clipping in place, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`.

/// Scales all gradients by `maxNorm / (norm + 1e-6)` when their global L2 norm (over every value
/// of every tensor) exceeds `maxNorm`; returns that norm, measured before clipping.
@discardableResult
public func clipGradNorm(_ grads: [Tensor], maxNorm: Float) throws -> Float {
    guard maxNorm.isFinite, maxNorm >= 0 else {
        throw TensorError("clip_grad_norm: max_norm must be a finite number >= 0, got \(maxNorm)")
    }
    var total: Double = 0
    for g in grads { for v in g.storage { total += Double(v) * Double(v) } }
    let norm = Float(total.squareRoot())
    let scale = maxNorm / (norm + 1e-6)
    // A non-finite norm scales every value to NaN, as PyTorch does by default: the step is
    // visibly broken rather than silently skipped.
    if !(scale >= 1) {
        for g in grads { g.withMutableValues { p in for j in 0..<p.count { p[j] *= scale } } }
    }
    return norm
}

/// Limits every gradient value to [-limit, limit].
public func clipGradValue(_ grads: [Tensor], limit: Float) throws {
    guard limit.isFinite, limit >= 0 else {
        throw TensorError("clip_grad_value: the limit must be a finite number >= 0, got \(limit)")
    }
    for g in grads { g.withMutableValues { p in for j in 0..<p.count { p[j] = Swift.min(Swift.max(p[j], -limit), limit) } } }
}
