/// Class-index targets of the classification losses: checked once, with the weight each element
/// carries (its class's weight, 0 when ignored) and the denominator of the mean that follows
/// from them, as PyTorch's `nll_loss` computes it.
struct ClassTargets {
    /// The class of each element; 0 stands in for ignored ones (their weight is 0).
    let classes: [Int]
    /// `weight[class]`, or 1 without class weights; 0 where the target is ignored.
    let weights: [Float]
    /// Whether any element is ignored or weighted differently from 1.
    let isWeighted: Bool
    /// Which elements hold the ignored index.
    let ignored: [Bool]
    let shape: [Int]

    /// `target` must have the input's shape without dimension 1 (N, or N, H, W, ...).
    init(_ target: Tensor, input: [Int], weight: Tensor?, ignoreIndex: Int?, op: String) throws {
        var expected = input
        let c = expected.remove(at: 1)
        guard target.shape == expected else {
            throw TensorError("\(op): expected target of size \(describeShape(expected)) (class indices), got \(describeShape(target.shape))")
        }
        if let weight, weight.shape != [c] {
            throw TensorError("\(op): expected a weight per class (size \(c)), got size \(describeShape(weight.shape))")
        }
        var classes = [Int](repeating: 0, count: target.count)
        var weights = [Float](repeating: 1, count: target.count)
        var ignored = [Bool](repeating: false, count: target.count)
        var weighted = weight != nil
        for (i, v) in target.storage.enumerated() {
            if let ignoreIndex, v == Float(ignoreIndex) {
                weights[i] = 0
                ignored[i] = true
                weighted = true
                continue
            }
            guard v.isFinite, v == v.rounded(), v >= 0, Int(v) < c else {
                let ignored = ignoreIndex.map { " or the ignored index \($0)" } ?? ""
                throw TensorError("\(op): target \(v) is not a class index in 0..\(c - 1)\(ignored)")
            }
            classes[i] = Int(v)
            if let weight { weights[i] = weight.storage[classes[i]] }
        }
        self.classes = classes
        self.weights = weights
        self.isWeighted = weighted
        self.ignored = ignored
        self.shape = target.shape
    }

    /// The mean's denominator: the total weight of the elements that count.
    var weightTotal: Float {
        var total: Double = 0
        for w in weights { total += Double(w) }
        return Float(total)
    }

    /// The per-element weights as a tensor of the target's shape.
    var weightTensor: Tensor { Tensor(uncheckedShape: shape, storage: weights) }

    /// 1 where the element counts, 0 where it is ignored; nil when none is.
    var keptMask: Tensor? {
        guard ignored.contains(true) else { return nil }
        return Tensor(uncheckedShape: shape, storage: ignored.map { $0 ? 0 : 1 })
    }

    /// Where each element's class sits in a tensor of size `input` (N, C, ...): for element
    /// [n, ...], the index of [n, class, ...].
    func classPositions(in input: [Int]) -> [Int] {
        let (_, c, inner) = splitAround(input, 1)
        return classes.indices.map { e in ((e / inner) * c + classes[e]) * inner + e % inner }
    }

    /// The targets one-hot along dimension 1 of a tensor of size `input` (ignored ones all 0).
    func oneHot(_ input: [Int]) -> Tensor {
        var out = [Float](repeating: 0, count: input.reduce(1, *))
        for (e, at) in classPositions(in: input).enumerated() where !ignored[e] { out[at] = 1 }
        return Tensor(uncheckedShape: input, storage: out)
    }
}

extension Tensor {
    /// `values[n, class[n, ...], ...]`: the entry of each element's class along dimension 1.
    static func pickClass(_ values: Tensor, _ targets: ClassTargets) -> Tensor {
        let positions = targets.classPositions(in: values.shape), shape = values.shape
        // Through buffer pointers: an element of a tensor's storage at a time would check
        // exclusive access to the tensor on every element.
        let out = values.storage.withUnsafeBufferPointer { v in positions.map { v[$0] } }
        return Tensor(uncheckedShape: targets.shape, storage: out).recording("pick_class", [values]) { g, _ in
            var dv = [Float](repeating: 0, count: shape.reduce(1, *))
            g.storage.withUnsafeBufferPointer { gp in
                dv.withUnsafeMutableBufferPointer { d in
                    for (e, at) in positions.enumerated() { d[at] = gp[e] }
                }
            }
            return [Tensor(uncheckedShape: shape, storage: dv)]
        }
    }

    /// A per-class tensor (C) shaped to broadcast along dimension 1 of a tensor of rank `rank`.
    func alongClassDimension(rank: Int) throws -> Tensor {
        var shape = [Int](repeating: 1, count: rank)
        shape[1] = count
        return try reshaped(shape)
    }
}
