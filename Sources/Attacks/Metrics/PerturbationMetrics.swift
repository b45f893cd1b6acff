import Foundation
import Tensor

/// How large, how smooth and how consistent a perturbation is. Per-image values averaged over
/// the images, as the paper reports them.
public enum PerturbationMetrics {
    /// Mean over images of the L∞, L2 and L0 (count of changed values) norms of η = x̃ − x.
    public static func norms(clean: Tensor, adversarial: Tensor) throws -> (linf: Float, l2: Float, l0: Float) {
        let eta = try adversarial - clean
        return (try eta.normPerSample(p: .infinity).mean().item(), try eta.normPerSample(p: 2).mean().item(),
                mean(try l0PerImage(clean: clean, adversarial: adversarial)))
    }

    /// Per image, the count of values of η changed by more than 1e-7.
    public static func l0PerImage(clean: Tensor, adversarial: Tensor) throws -> [Float] {
        try (adversarial - clean).abs().compare(Tensor(scalar: 1e-7), "gt").normPerSample(p: 1).storage
    }

    /// The paper's Var: the variance of η's values within each image, averaged over images.
    public static func variance(clean: Tensor, adversarial: Tensor) throws -> Float {
        mean(try variancePerImage(clean: clean, adversarial: adversarial))
    }

    public static func variancePerImage(clean: Tensor, adversarial: Tensor) throws -> [Float] {
        let eta = try (adversarial - clean).flattened(from: 1)
        return try eta.variance(dim: 1, unbiased: false).storage
    }

    /// The paper's Cos: cosine similarity between consecutive updates of each image; the mean
    /// and the share of positive values. Nil with fewer than two updates.
    public static func consistency(updates: [Tensor]) throws -> (mean: Float, positive: Float)? {
        guard let perImage = try cosinesPerImage(updates: updates) else { return nil }
        let cosines = perImage.flatMap { $0 }
        guard !cosines.isEmpty else { return nil }
        let positive = Float(cosines.filter { $0 > 0 }.count) / Float(cosines.count)
        return (cosines.reduce(0, +) / Float(cosines.count), positive)
    }

    /// Cos per image: the mean and the share of positive cosines between its consecutive
    /// updates (NaN for an image none of whose updates has a direction). Nil with fewer than two
    /// updates.
    public static func consistencyPerImage(updates: [Tensor]) throws -> (mean: [Float], positive: [Float])? {
        guard let perImage = try cosinesPerImage(updates: updates) else { return nil }
        let means = perImage.map { $0.isEmpty ? Float.nan : $0.reduce(0, +) / Float($0.count) }
        let positives = perImage.map { $0.isEmpty ? Float.nan : Float($0.filter { $0 > 0 }.count) / Float($0.count) }
        return (means, positives)
    }

    /// The cosines between consecutive updates, per image (pairs where either update is zero
    /// have none).
    private static func cosinesPerImage(updates: [Tensor]) throws -> [[Float]]? {
        guard updates.count >= 2 else { return nil }
        var cosines = [[Float]](repeating: [], count: updates[0].shape.first ?? 0)
        for (a, b) in zip(updates, updates.dropFirst()) {
            let fa = try a.flattened(from: 1), fb = try b.flattened(from: 1)
            let dot = try (fa * fb).sum(dim: 1)
            let norms = try fa.normPerSample(p: 2) * fb.normPerSample(p: 2)
            for (i, (d, n)) in zip(dot.storage, norms.storage).enumerated() where n > 0 && i < cosines.count {
                cosines[i].append(d / n)
            }
        }
        return cosines
    }

    /// Peak signal-to-noise ratio in dB for values in [0, 1], averaged over images (identical
    /// images count as 100 dB).
    public static func psnr(clean: Tensor, adversarial: Tensor) throws -> Float {
        mean(try psnrPerImage(clean: clean, adversarial: adversarial))
    }

    public static func psnrPerImage(clean: Tensor, adversarial: Tensor) throws -> [Float] {
        let diff = try (adversarial - clean).flattened(from: 1)
        let mse = try (diff * diff).mean(dim: 1)
        return mse.storage.map { $0 > 0 ? Swift.min(100, 10 * log10(1 / $0)) : 100 }
    }

    /// Structural similarity (Wang et al. 2004): 11×11 Gaussian window with σ = 1.5,
    /// K1 = 0.01, K2 = 0.03, data range 1, over the valid region, per channel; averaged.
    public static func ssim(clean: Tensor, adversarial: Tensor) throws -> Float {
        mean(try ssimPerImage(clean: clean, adversarial: adversarial))
    }

    /// SSIM per image (its map averaged over channels and the valid region).
    public static func ssimPerImage(clean: Tensor, adversarial: Tensor) throws -> [Float] {
        guard clean.rank == 4, clean.shape == adversarial.shape else {
            throw TensorError("ssim: expected two images batches of the same size (N, C, H, W), got \(describeShape(clean.shape)) and \(describeShape(adversarial.shape))")
        }
        let window = 11, half = window / 2
        guard clean.shape[2] > window, clean.shape[3] > window else {
            throw TensorError("ssim: images must be larger than the 11x11 window, got \(clean.shape[2])x\(clean.shape[3])")
        }
        let c1: Float = 0.01 * 0.01, c2: Float = 0.03 * 0.03
        return try withoutGrad {
            func blur(_ t: Tensor) throws -> Tensor {
                let b = try Tensor.gaussianBlur(t, size: window, sigma: 1.5)
                return try b.slice(dim: 2, start: half, end: b.shape[2] - half).slice(dim: 3, start: half, end: b.shape[3] - half)
            }
            let x = clean, y = adversarial
            let mx = try blur(x), my = try blur(y)
            let sxx = try blur(x * x) - mx * mx
            let syy = try blur(y * y) - my * my
            let sxy = try blur(x * y) - mx * my
            let numerator = try (mx * my * 2 + c1) * (sxy * 2 + c2)
            let denominator = try (mx * mx + my * my + c1) * (sxx + syy + c2)
            return try (numerator / denominator).flattened(from: 1).mean(dim: 1).storage
        }
    }

    private static func mean(_ values: [Float]) -> Float {
        values.reduce(0, +) / Float(max(values.count, 1))
    }
}
