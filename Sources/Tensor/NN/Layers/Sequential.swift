/// Children run in order; in state dicts they are named `0`, `1`, ... as in PyTorch.
public final class Sequential: Module {
    public init(_ modules: [Module]) {
        super.init()
        for (i, m) in modules.enumerated() { registerChild(String(i), m) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try runChain(children, x)
    }

    public var count: Int { children.count }
    public subscript(i: Int) -> Module { children[i].module }
}
