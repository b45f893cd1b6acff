import Tensor

/// The model's outputs on two batches of images from one pass over both, concatenated: twice
/// the columns per GEMM and one pass of the layers' bookkeeping instead of two. For a model
/// that treats samples independently (eval mode), as every attacked model here. The pass is
/// recorded when gradients are enabled, so a loss can differentiate through `first`.
public func forwardTogether(_ model: Module, _ first: Tensor, _ second: Tensor, op: String) throws -> (first: Tensor, second: Tensor) {
    let n = first.shape[0], total = n + second.shape[0]
    let both = try model(Tensor.cat([first, second], dim: 0))
    guard both.rank >= 1, both.shape[0] == total else {
        throw TensorError("\(op): the model returned \(describeShape(both.shape)) for \(total) images")
    }
    return (try both.slice(dim: 0, start: 0, end: n), try both.slice(dim: 0, start: n, end: total))
}
