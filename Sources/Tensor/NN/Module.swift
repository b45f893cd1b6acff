/// The base of every layer and model: named parameters, buffers and children with PyTorch's
/// `state_dict` names, train/eval mode, and strict weight loading.
open class Module {
    /// Own trainable tensors, in registration order (PyTorch's order).
    public private(set) var ownParameters: [(name: String, tensor: Tensor)] = []
    /// Own non-trainable state (batch-norm running statistics).
    public private(set) var ownBuffers: [(name: String, tensor: Tensor)] = []
    public private(set) var children: [(name: String, module: Module)] = []
    public private(set) var isTraining = true

    public init() {}

    /// The name shown in errors and printing, e.g. `Conv2d`.
    open var typeName: String { String(describing: type(of: self)) }
    /// Constructor options for printing, e.g. `3, 64, kernel_size=3`.
    open var optionsDescription: String { "" }

    open func forward(_ x: Tensor) throws -> Tensor {
        throw TensorError("\(typeName): this module has no forward")
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }

    /// Runs a child and prefixes its error with where it happened, as Torch7's containers do.
    public func run(_ child: Module, named name: String, _ x: Tensor) throws -> Tensor {
        do {
            return try child.forward(x)
        } catch let error as TensorError {
            throw TensorError("\(typeName).\(name) (\(child.typeName)): \(error.message)")
        }
    }

    @discardableResult
    public func registerParameter(_ name: String, _ tensor: Tensor) -> Tensor {
        tensor.requiresGrad = true
        ownParameters.append((name, tensor))
        return tensor
    }

    @discardableResult
    public func registerBuffer(_ name: String, _ tensor: Tensor) -> Tensor {
        ownBuffers.append((name, tensor))
        return tensor
    }

    @discardableResult
    public func registerChild<M: Module>(_ name: String, _ module: M) -> M {
        children.append((name, module))
        return module
    }

    /// Whether `other` is this module or one of its descendants.
    public func contains(_ other: Module) -> Bool {
        self === other || children.contains { $0.module.contains(other) }
    }

    /// Every trainable tensor with its dotted name, depth first, as `named_parameters()`.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        ownParameters + children.flatMap { child in
            child.module.namedParameters().map { ("\(child.name).\($0.name)", $0.tensor) }
        }
    }

    /// Parameters and buffers with their dotted names, in PyTorch's `state_dict` order.
    public func stateDict() -> [(name: String, tensor: Tensor)] {
        ownParameters + ownBuffers + children.flatMap { child in
            child.module.stateDict().map { ("\(child.name).\($0.name)", $0.tensor) }
        }
    }

    /// Training mode (batch statistics, dropout) on or off, for this module and all below.
    public func train(_ on: Bool = true) {
        isTraining = on
        for child in children { child.module.train(on) }
    }

    public func eval() { train(false) }

    /// A tree view like PyTorch's `print(model)`.
    public func describe(indent: String = "") -> String {
        if children.isEmpty { return "\(typeName)(\(optionsDescription))" }
        var lines = ["\(typeName)("]
        for child in children {
            lines.append("\(indent)  (\(child.name)): \(child.module.describe(indent: indent + "  "))")
        }
        lines.append("\(indent))")
        return lines.joined(separator: "\n")
    }
}
