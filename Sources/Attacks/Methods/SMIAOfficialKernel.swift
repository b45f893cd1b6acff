import Foundation
import Tensor

/// The smoothing filter of the SMIA authors' released code (github.com/imogenqi/SMA, SMIA.py),
/// exactly as PyTorch runs it there, for `smia{variant = "official", kernel = "gkern"}`.
///
/// Their `gkern(3, 1)` evaluates `st.norm.pdf(-1, x)` for x in (-1, 0, 1): the density at -1
/// with mean x, an asymmetric profile k = (0.574, 0.348, 0.078) once normalized, not the
/// centred Gaussian (`st.norm.pdf(x)`) of the TI-FGSM code it follows. The 3×3 kernel is
/// outer(k, k). `np.stack([kernel] * 3).swapaxes(2, 0)` then `expand_dims(…, 3)` is a
/// TensorFlow depthwise layout (kH, kW, C, 1); `F.conv2d` reads it as (out, in, kH, kW), so
/// weight[o, i, h, 0] = k[o]·k[i] for every h: a filter that mixes the channels (output
/// channel o gets k[o] · Σᵢ k[i]·xᵢ), sums 3 rows 2 apart (`padding = (2, 0), dilation = 2`,
/// "same" size, zero padding) with equal weights, and is not normalized (a constant image of
/// 3 channels comes out 3·k[o] times as large).
///
/// As written it needs exactly 3 channels. For C channels (one-channel CT, Fashion-MNIST) the
/// weight is weight[o, i, h, 0] = k[o mod 3]·k[i mod 3]: for C = 3 their filter, for C = 1
/// the 3 rows weighted k[0]² = 0.330 each.
public enum SMIAOfficialKernel {
    /// (0.574, 0.348, 0.078): `st.norm.pdf(-1, x)` for x in linspace(-1, 1, 3), normalized.
    public static let profile: [Float] = {
        let density = [-1.0, 0.0, 1.0].map { x in Foundation.exp(-(-1 - x) * (-1 - x) / 2) }
        let total = density.reduce(0, +)
        return density.map { Float($0 / total) }
    }()

    /// The conv2d weight (C, C, 3, 1) for images of C channels.
    public static func weight(channels c: Int) throws -> Tensor {
        guard c >= 1 else { throw TensorError("gkern filter: expected at least one channel, got \(c)") }
        var values = [Float](repeating: 0, count: c * c * 3)
        for o in 0..<c {
            for i in 0..<c {
                for h in 0..<3 { values[(o * c + i) * 3 + h] = profile[o % 3] * profile[i % 3] }
            }
        }
        return try Tensor(shape: [c, c, 3, 1], storage: values)
    }

    /// The filter applied to (N, C, H, W), output of the same size.
    public static func apply(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4 else { throw TensorError("gkern filter: expected input of size (N, C, H, W), got \(describeShape(x.shape))") }
        return try Tensor.conv2d(x, weight: weight(channels: x.shape[1]), bias: nil,
                                 options: Conv2dOptions(padding: (2, 0), dilation: (2, 1)))
    }
}
