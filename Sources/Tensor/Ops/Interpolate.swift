/// Resizing (N, C, H, W) by nearest neighbour or bilinear interpolation, with PyTorch's
/// `interpolate` semantics: the source position of each output pixel is computed per axis
/// exactly as PyTorch does, so results match it, including its choice to map positions with
/// 1/scale_factor (not in/out) when a scale factor is given.

public enum InterpolationMode: String, CaseIterable {
    case nearest, bilinear
}

/// What `interpolate` resizes to: a size, or a factor per axis.
public enum InterpolationTarget {
    case size(Int, Int)
    case scale(Double, Double)
}

/// One axis of a resize: output position i reads input positions `i0[i]`, `i1[i]` with weights
/// `w0[i]`, `w1[i]` (nearest uses only the first).
struct InterpolationAxis {
    var i0: [Int] = [], i1: [Int] = [], w0: [Float] = [], w1: [Float] = []

    init(input: Int, output: Int, scale: Double?, mode: InterpolationMode, alignCorners: Bool) {
        for i in 0..<output {
            switch mode {
            case .nearest:
                let ratio = Float(scale.map { 1 / $0 } ?? Double(input) / Double(output))
                let src = Swift.min(Int((Float(i) * ratio).rounded(.down)), input - 1)
                i0.append(src); i1.append(src); w0.append(1); w1.append(0)
            case .bilinear:
                var src: Float
                if alignCorners {
                    src = output > 1 ? Float(input - 1) / Float(output - 1) * Float(i) : 0
                } else {
                    let ratio = Float(scale.map { 1 / $0 } ?? Double(input) / Double(output))
                    src = Swift.max(ratio * (Float(i) + 0.5) - 0.5, 0)
                }
                let lo = Swift.min(Int(src), input - 1)
                let lambda = Swift.min(Swift.max(src - Float(lo), 0), 1)
                i0.append(lo); i1.append(Swift.min(lo + 1, input - 1)); w0.append(1 - lambda); w1.append(lambda)
            }
        }
    }
}

extension Tensor {
    /// `x` (N, C, H, W) resized to `target`. `alignCorners` (bilinear only) maps the corner
    /// pixels' centres onto each other; without it pixels are areas, as PyTorch's default.
    public static func interpolate(_ x: Tensor, _ target: InterpolationTarget, mode: InterpolationMode = .nearest,
                                   alignCorners: Bool = false) throws -> Tensor {
        guard x.rank == 4 else {
            throw TensorError("interpolate: expected input of size (N, C, H, W), got \(describeShape(x.shape))")
        }
        if alignCorners && mode == .nearest {
            throw TensorError("interpolate: align_corners applies to bilinear interpolation only, not nearest")
        }
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        guard h > 0, w > 0 else { throw TensorError("interpolate: cannot resize an empty image (\(h)x\(w))") }
        let oh: Int, ow: Int
        var scales: (Double?, Double?) = (nil, nil)
        switch target {
        case let .size(a, b):
            guard a > 0, b > 0 else { throw TensorError("interpolate: output size must be positive, got \(a)x\(b)") }
            (oh, ow) = (a, b)
        case let .scale(a, b):
            guard a > 0, b > 0, a.isFinite, b.isFinite else {
                throw TensorError("interpolate: scale_factor must be positive, got (\(a), \(b))")
            }
            let fh = (Double(h) * a).rounded(.down), fw = (Double(w) * b).rounded(.down)
            guard fh >= 1, fw >= 1, fh * fw <= Double(maxTensorElements) else {
                throw TensorError("interpolate: scale_factor (\(a), \(b)) gives an output of \(fh)x\(fw) from \(h)x\(w)")
            }
            (oh, ow) = (Int(fh), Int(fw))
            scales = (a, b)
        }
        // Checked before the axes' tables, which are as long as the output's sides.
        let outCount = try checkedCount([n, c, oh, ow])
        let ay = InterpolationAxis(input: h, output: oh, scale: scales.0, mode: mode, alignCorners: alignCorners)
        let ax = InterpolationAxis(input: w, output: ow, scale: scales.1, mode: mode, alignCorners: alignCorners)
        let planes = n * c
        var out = [Float](repeating: 0, count: outCount)
        x.storage.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { po in
                guard let src = px.baseAddress, let dst = po.baseAddress else { return }
                parallelFor(planes) { pl in
                    let plane = src + pl * h * w, row = dst + pl * oh * ow
                    for y in 0..<oh {
                        let r0 = plane + ay.i0[y] * w, r1 = plane + ay.i1[y] * w
                        let wy0 = ay.w0[y], wy1 = ay.w1[y]
                        for xo in 0..<ow {
                            let j0 = ax.i0[xo], j1 = ax.i1[xo]
                            let top = ax.w0[xo] * r0[j0] + ax.w1[xo] * r0[j1]
                            let bottom = ax.w0[xo] * r1[j0] + ax.w1[xo] * r1[j1]
                            row[y * ow + xo] = wy0 * top + wy1 * bottom
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, c, oh, ow], storage: out).recording("interpolate", [x]) { g, _ in
            var dx = [Float](repeating: 0, count: x.count)
            g.storage.withUnsafeBufferPointer { pg in
                dx.withUnsafeMutableBufferPointer { pd in
                    guard let gsrc = pg.baseAddress, let gdst = pd.baseAddress else { return }
                    parallelFor(planes) { pl in
                        let plane = gdst + pl * h * w, row = gsrc + pl * oh * ow
                        for y in 0..<oh {
                            let r0 = plane + ay.i0[y] * w, r1 = plane + ay.i1[y] * w
                            let wy0 = ay.w0[y], wy1 = ay.w1[y]
                            for xo in 0..<ow {
                                let v = row[y * ow + xo], j0 = ax.i0[xo], j1 = ax.i1[xo]
                                r0[j0] += wy0 * ax.w0[xo] * v
                                r0[j1] += wy0 * ax.w1[xo] * v
                                r1[j0] += wy1 * ax.w0[xo] * v
                                r1[j1] += wy1 * ax.w1[xo] * v
                            }
                        }
                    }
                }
            }
            return [Tensor(uncheckedShape: x.shape, storage: dx)]
        }
    }
}
