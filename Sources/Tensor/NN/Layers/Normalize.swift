/// Per-channel input normalization, `(x - mean) / std`, as the first layer of a model: the
/// model then takes images in [0, 1], where attacks measure and bound their perturbations.
/// `mean` and `std` are buffers of size (C), so they travel in the state dict.
public final class Normalize: Module {
    public let mean: Tensor
    public let std: Tensor

    public init(mean: [Float], std: [Float]) throws {
        guard !mean.isEmpty, mean.count == std.count else {
            throw TensorError("Normalize: expected mean and std with one value per channel each, got \(mean.count) and \(std.count)")
        }
        guard mean.allSatisfy(\.isFinite) else { throw TensorError("Normalize: mean must be finite, got \(mean)") }
        guard std.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw TensorError("Normalize: std must be positive, got \(std)")
        }
        self.mean = Tensor(uncheckedShape: [mean.count], storage: mean)
        self.std = Tensor(uncheckedShape: [std.count], storage: std)
        super.init()
        registerBuffer("mean", self.mean)
        registerBuffer("std", self.std)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let c = mean.count
        guard x.rank >= 2, x.shape[1] == c else {
            throw TensorError("Normalize: expected input of size (N, \(c), ...), got \(describeShape(x.shape))")
        }
        var perChannel = [Int](repeating: 1, count: x.rank)
        perChannel[1] = c
        return try (x - mean.reshaped(perChannel)) / std.reshaped(perChannel)
    }

    public override var optionsDescription: String {
        "mean=\(mean.storage), std=\(std.storage)"
    }
}
