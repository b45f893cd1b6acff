/// PyTorch's `Upsample`: `interpolate` as a layer, with no parameters.
public final class Upsample: Module {
    public let target: InterpolationTarget
    public let mode: InterpolationMode
    public let alignCorners: Bool

    public init(_ target: InterpolationTarget, mode: InterpolationMode = .nearest, alignCorners: Bool = false) throws {
        switch target {
        case let .size(h, w):
            guard h > 0, w > 0 else { throw TensorError("Upsample: size must be positive, got \(h)x\(w)") }
        case let .scale(a, b):
            guard a > 0, b > 0, a.isFinite, b.isFinite else {
                throw TensorError("Upsample: scale_factor must be positive, got (\(a), \(b))")
            }
        }
        if alignCorners && mode == .nearest {
            throw TensorError("Upsample: align_corners applies to bilinear interpolation only, not nearest")
        }
        self.target = target
        self.mode = mode
        self.alignCorners = alignCorners
        super.init()
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try Tensor.interpolate(x, target, mode: mode, alignCorners: alignCorners)
    }

    public override var optionsDescription: String {
        let what: String
        switch target {
        case let .size(h, w): what = "size=(\(h), \(w))"
        case let .scale(a, b): what = "scale_factor=(\(a), \(b))"
        }
        return "\(what), mode='\(mode.rawValue)'" + (alignCorners ? ", align_corners=True" : "")
    }
}
