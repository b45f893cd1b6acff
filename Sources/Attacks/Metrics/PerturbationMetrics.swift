import Foundation
import Tensor

/// How large, how smooth and how consistent a perturbation is. Per-image values averaged over
/// the images, as the paper reports them.
public enum PerturbationMetrics {
    /// Mean over images of the L∞, L2 and L0 (count of changed values) norms of η = x̃ − x.
    public static func norms(clean: Tensor, adversarial: Tensor) throws -> (linf: Float, l2: Float, l0: Float) {
        let s = try PerturbationStatistics(clean: clean, adversarial: adversarial)
        return (mean(s.linf), mean(s.l2), mean(s.l0))
    }

    /// Per image, the count of values of η changed by more than 1e-7.
    public static func l0PerImage(clean: Tensor, adversarial: Tensor) throws -> [Float] {
        try PerturbationStatistics(clean: clean, adversarial: adversarial).l0
    }

    /// The paper's Var: the variance of η's values within each image, averaged over images.
    public static func variance(clean: Tensor, adversarial: Tensor) throws -> Float {
        mean(try variancePerImage(clean: clean, adversarial: adversarial))
    }

    public static func variancePerImage(clean: Tensor, adversarial: Tensor) throws -> [Float] {
        try PerturbationStatistics(clean: clean, adversarial: adversarial).variance
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
        try PerturbationStatistics(clean: clean, adversarial: adversarial).psnr
    }

    /// Structural similarity (Wang et al. 2004): 11×11 Gaussian window with σ = 1.5,
    /// K1 = 0.01, K2 = 0.03, data range 1, over the valid region, per channel; averaged.
    public static func ssim(clean: Tensor, adversarial: Tensor) throws -> Float {
        mean(try ssimPerImage(clean: clean, adversarial: adversarial))
    }

    /// SSIM per image (its map averaged over channels and the valid region).
    public static func ssimPerImage(clean: Tensor, adversarial: Tensor) throws -> [Float] {
        try StructuralSimilarity.perImage(clean, adversarial)
    }

    private static func mean(_ values: [Float]) -> Float {
        values.reduce(0, +) / Float(max(values.count, 1))
    }
}
