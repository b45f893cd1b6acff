/// Losses between a prediction and a target of the same size: squared and absolute error.

extension Tensor {
    /// `(input - target)²` per element.
    public static func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        let d = try difference(input, target, "mse_loss")
        return try (d * d).reduced(reduction)
    }

    /// `|input - target|` per element (gradient 0 where they are equal, as PyTorch's sign).
    public static func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try difference(input, target, "l1_loss").abs().reduced(reduction)
    }

    /// Same sizes only: broadcasting a target silently is a common mistake (PyTorch warns).
    private static func difference(_ input: Tensor, _ target: Tensor, _ op: String) throws -> Tensor {
        guard input.shape == target.shape else {
            throw TensorError("\(op): expected target of the input's size \(describeShape(input.shape)), got \(describeShape(target.shape))")
        }
        return try input - target
    }
}
