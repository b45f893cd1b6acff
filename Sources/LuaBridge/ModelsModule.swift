import CLua
import Tensor

/// `smia.models`: torchvision's architectures with its parameter names, so PyTorch weights load
/// as they are. `smia.models.resnet18{num_classes = 5, in_channels = 3}` (defaults 1000 and 3).
/// Also a U-Net, a CenterNet-style detector and a small CNN classifier sized for the CPU.
enum ModelsBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 6)
        setFunctions(L, prefix: "models.", [
            ("resnet18", resnet(.r18)),
            ("resnet34", resnet(.r34)),
            ("resnet50", resnet(.r50)),
            ("unet", unet),
            ("detector", detector),
            ("simple_cnn", simpleCNN),
        ])
    }

    /// `unet{in_channels = 1, num_classes = 2, width = 16, depth = 3}`: milesial/Pytorch-UNet's names.
    private static let unet: LuaBody = { a in
        let o = try LuaOptions(a, 1, names: ["in_channels", "num_classes", "width", "depth"])
        return a.push(try UNet(inChannels: o.positive("in_channels", default: 1), numClasses: o.positive("num_classes", default: 2),
                               width: o.positive("width", default: 16), depth: o.positive("depth", default: 3)))
    }

    /// `detector{in_channels = 3, num_classes = 1, width = 16}`: CenterNet-style, stride 4.
    private static let detector: LuaBody = { a in
        let o = try LuaOptions(a, 1, names: ["in_channels", "num_classes", "width"])
        return a.push(try Detector(inChannels: o.positive("in_channels", default: 3), numClasses: o.positive("num_classes", default: 1),
                                   width: o.positive("width", default: 16)))
    }

    /// `simple_cnn{in_channels = 3, num_classes = 10, width = 16, depth = 3[, mean = {...}, std = {...}]}`;
    /// mean and std add a Normalize layer first.
    private static let simpleCNN: LuaBody = { a in
        let o = try LuaOptions(a, 1, names: ["in_channels", "num_classes", "width", "depth", "mean", "std"])
        let mean = try o.numbers("mean"), std = try o.numbers("std")
        guard (mean == nil) == (std == nil) else { throw a.error(1, "options 'mean' and 'std' go together") }
        let normalization = mean.flatMap { m in std.map { (mean: m.map(Float.init), std: $0.map(Float.init)) } }
        return a.push(try SimpleCNN(inChannels: o.positive("in_channels", default: 3), numClasses: o.positive("num_classes", default: 10),
                                    width: o.positive("width", default: 16), depth: o.positive("depth", default: 3),
                                    normalization: normalization))
    }

    private static func resnet(_ depth: ResNet.Depth) -> LuaBody {
        { a in
            let o = try LuaOptions(a, 1, names: ["num_classes", "in_channels"])
            return a.push(try ResNet(depth: depth, numClasses: o.positive("num_classes", default: 1000),
                                     inChannels: o.positive("in_channels", default: 3)))
        }
    }
}
