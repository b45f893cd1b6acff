/// The base of the optimizers: a list of parameter tensors updated in place from gradients
/// given in the same order, as a functional autodiff hands them out (`grad(of:wrt:)` with the
/// parameters). The learning rate may change between steps (a schedule sets it).
public class Optimizer {
    public let parameters: [Tensor]
    public private(set) var learningRate: Double
    /// Steps taken so far.
    public private(set) var stepCount = 0

    /// The name in errors and printing (`sgd`, `adam`, `adamw`).
    public var typeName: String { "optimizer" }
    /// The settings for printing, e.g. `lr=0.1, momentum=0.9`.
    public var optionsDescription: String { "lr=\(learningRate)" }

    init(parameters: [Tensor], learningRate: Double) throws {
        self.parameters = parameters
        self.learningRate = 0
        var seen = Set<ObjectIdentifier>()
        for (i, p) in parameters.enumerated() where !seen.insert(ObjectIdentifier(p)).inserted {
            throw TensorError("\(typeName): parameter \(i + 1) appears twice in the list")
        }
        try setLearningRate(learningRate)
    }

    public func setLearningRate(_ lr: Double) throws {
        guard lr.isFinite, lr >= 0 else {
            throw TensorError("\(typeName): learning rate must be a finite number >= 0, got \(lr)")
        }
        learningRate = lr
    }

    /// Updates every parameter from its gradient (`grads[i]` for `parameters[i]`, same sizes).
    /// Nothing changes when the gradients do not fit.
    public func step(_ grads: [Tensor]) throws {
        guard grads.count == parameters.count else {
            throw TensorError("\(typeName): expected \(parameters.count) gradients (one per parameter), got \(grads.count)")
        }
        for (i, (p, g)) in zip(parameters, grads).enumerated() where p.shape != g.shape {
            throw TensorError("\(typeName): gradient \(i + 1) has size \(describeShape(g.shape)), its parameter \(describeShape(p.shape))")
        }
        stepCount += 1
        for i in parameters.indices {
            let g = grads[i].storage
            parameters[i].withMutableValues { p in
                g.withUnsafeBufferPointer { update(parameter: i, p, $0) }
            }
        }
    }

    /// The rule of one optimizer for parameter `index`; `stepCount` already counts this step.
    func update(parameter index: Int, _ p: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>) {}

    /// Settings shared by the optimizers' initializers: a finite number in a range.
    static func check(_ value: Float, _ name: String, in range: ClosedRange<Float>, _ op: String) throws {
        guard value.isFinite, range.contains(value) else {
            let bound = range.upperBound == .greatestFiniteMagnitude ? ">= \(range.lowerBound)" : "in [\(range.lowerBound), \(range.upperBound)]"
            throw TensorError("\(op): \(name) must be a number \(bound), got \(value)")
        }
    }
}
