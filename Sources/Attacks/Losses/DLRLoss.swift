import Tensor

/// The Difference of Logits Ratio loss (Croce & Hein, ICML 2020), per sample (N):
/// −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12), with z_π1 ≥ z_π2 ≥ z_π3 the sorted logits.
/// Invariant to shifting and scaling the logits; positive once the prediction is wrong.
/// `output` is (N, K) or (N, K, H, W) with labels (N) or (N, H, W); per pixel it is averaged
/// over the pixels of each sample. Needs K ≥ 3. The gradient flows through all four logits.
public func dlrLoss(_ output: Tensor, _ labels: Tensor) throws -> Tensor {
    try AttackTask(rank: output.rank).check(output: output, labels: labels, op: "dlr")
    let k = output.shape[1]
    guard k >= 3 else { throw TensorError("dlr: needs at least 3 classes, got \(k)") }
    let n = output.shape[0]
    let inner = output.count / (n * k)
    // One-hot masks, laid out as the output, for y, the best other class, π1 and π3.
    var own = [Float](repeating: 0, count: output.count)
    var other = own, first = own, third = own
    var row = [Float](repeating: 0, count: k)
    let (values, classes) = (output.storage, labels.storage)  // once each, not per element
    for a in 0..<n {
        for p in 0..<inner {
            for c in 0..<k { row[c] = values[(a * k + c) * inner + p] }
            let y = Int(classes[a * inner + p])
            let order = (0..<k).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            let bestOther = order[0] == y ? order[1] : order[0]
            own[(a * k + y) * inner + p] = 1
            other[(a * k + bestOther) * inner + p] = 1
            first[(a * k + order[0]) * inner + p] = 1
            third[(a * k + order[2]) * inner + p] = 1
        }
    }
    func pick(_ mask: [Float]) throws -> Tensor {
        try (output * Tensor(shape: output.shape, storage: mask)).sum(dim: 1)
    }
    let margin = try pick(own) - pick(other)
    let spread = try pick(first) - pick(third) + 1e-12
    let perItem = try -(margin / spread)
    return perItem.rank == 1 ? perItem : try perItem.flattened(from: 1).mean(dim: 1)
}

extension AttackTask {
    /// The task an output of this rank belongs to (for checks shared by both).
    init(rank: Int) { self = rank == 2 ? .classification : .segmentation }
}
