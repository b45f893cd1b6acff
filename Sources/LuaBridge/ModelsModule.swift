import CLua
import Tensor

/// `smia.models`: torchvision's architectures with its parameter names, so PyTorch weights load
/// as they are. `smia.models.resnet18{num_classes = 5, in_channels = 3}` (defaults 1000 and 3).
enum ModelsBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 3)
        setFunctions(L, prefix: "models.", [
            ("resnet18", resnet(.r18)),
            ("resnet34", resnet(.r34)),
            ("resnet50", resnet(.r50)),
        ])
    }

    private static func resnet(_ depth: ResNet.Depth) -> LuaBody {
        { a in
            let o = try LuaOptions(a, 1, names: ["num_classes", "in_channels"])
            return a.push(try ResNet(depth: depth, numClasses: o.positive("num_classes", default: 1000),
                                     inChannels: o.positive("in_channels", default: 3)))
        }
    }
}
