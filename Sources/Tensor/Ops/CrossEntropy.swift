/// Cross-entropy for classification (N, C) and per pixel (N, C, H, W).

public enum Reduction: String {
    case mean, sum, none
}

extension Tensor {
    /// `target` holds class indices (0-based, shape (N) or (N, H, W)) or probabilities with the
    /// logits' shape. The mean runs over the batch and the pixels, as in PyTorch.
    public static func crossEntropy(_ logits: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        guard logits.rank >= 2 else {
            throw TensorError("cross_entropy: expected logits of size (N, C) or (N, C, H, W), got \(describeShape(logits.shape))")
        }
        let logp = try logits.logSoftmax(dim: 1)
        let perSample: Tensor
        if target.shape == logits.shape {
            perSample = try -(target * logp).sum(dim: 1)
        } else {
            var expected = logits.shape
            expected.remove(at: 1)
            guard target.shape == expected else {
                throw TensorError("cross_entropy: expected target of size \(describeShape(expected)) (class indices) or \(describeShape(logits.shape)) (probabilities), got \(describeShape(target.shape))")
            }
            perSample = try -pickClass(logp, target)
        }
        switch reduction {
        case .none: return perSample
        case .sum: return perSample.sum()
        case .mean: return try perSample.mean()
        }
    }

    /// `values[n, target[n, ...], ...]`: the entry of each sample's (and pixel's) class.
    static func pickClass(_ values: Tensor, _ target: Tensor) throws -> Tensor {
        let c = values.shape[1]
        let (outer, _, inner) = splitAround(values.shape, 1)
        var classes = [Int](repeating: 0, count: outer * inner)
        for (i, v) in target.storage.enumerated() {
            guard v.isFinite, v == v.rounded(), v >= 0, Int(v) < c else {
                throw TensorError("cross_entropy: target \(v) is not a class index in 0..\(c - 1)")
            }
            classes[i] = Int(v)
        }
        var out = [Float](repeating: 0, count: outer * inner)
        for a in 0..<outer { for i in 0..<inner { out[a * inner + i] = values.storage[(a * c + classes[a * inner + i]) * inner + i] } }
        return Tensor(uncheckedShape: target.shape, storage: out).recording("pick_class", [values]) { g, _ in
            let dv = Tensor.zerosUnchecked(values.shape)
            for a in 0..<outer { for i in 0..<inner { dv.storage[(a * c + classes[a * inner + i]) * inner + i] = g.storage[a * inner + i] } }
            return [dv]
        }
    }
}
