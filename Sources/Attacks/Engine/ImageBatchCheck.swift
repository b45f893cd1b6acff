import Tensor

/// Checks the images an attack is given: a batch (N, C, H, W) with N >= 1 and every value a
/// finite number. `op` names the attack in the error.
func checkImageBatch(_ images: Tensor, op: String) throws {
    guard images.rank == 4, images.shape[0] > 0 else {
        throw TensorError("\(op): expected images of size (N, C, H, W) with N >= 1, got \(describeShape(images.shape))")
    }
    guard !images.hasNonFinite else { throw TensorError("\(op): the images contain NaN or infinite values") }
}
