/// Reverse-mode autodiff, define-by-run.
///
/// Every operation whose inputs need a gradient attaches an `Origin` to its result: the inputs and
/// a rule that turns the gradient of the result into gradients of the inputs. The graph is the
/// chain of origins; it lives as long as the result does. `grad(of:wrt:)` walks it backwards and
/// runs a rule only for inputs that lead to a tensor asked for, so an attack that asks for the
/// input gradient never pays for weight gradients.

/// The gradient rule of one recorded operation. `needed[i]` tells whether input `i` leads to a
/// requested tensor; the rule may return nil for the others and skip their work.
typealias BackwardRule = (_ gradOutput: Tensor, _ needed: [Bool]) throws -> [Tensor?]

final class Origin {
    let name: String
    let inputs: [Tensor]
    let backward: BackwardRule
    /// The versions of the inputs and of the result when the operation ran: a rule reads their
    /// values, so an in-place change since then would give a wrong gradient.
    let inputVersions: [Int]
    var resultVersion: Int
    init(name: String, inputs: [Tensor], result: Tensor, backward: @escaping BackwardRule) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
        inputVersions = inputs.map(\.version)
        resultVersion = result.version
    }

    /// A view's result version is its base's, known once the view is linked.
    func restampVersions(result: Tensor) { resultVersion = result.version }

    /// Refuses to differentiate when an input or the result was changed in place since.
    func checkUnchanged(result: Tensor) throws {
        guard result.version == resultVersion, zip(inputs, inputVersions).allSatisfy({ $0.0.version == $0.1 }) else {
            throw TensorError("grad: a tensor that the gradient of '\(name)' needs was changed by an in-place operation after it was used (change a clone, or take the gradient first)")
        }
    }
}

/// Whether operations record their gradient rules. Off inside `withoutGrad` and while a
/// backward pass runs (gradients of gradients are not supported).
public enum GradMode {
    public internal(set) static var isEnabled = true
}

/// Runs `body` without recording: results have no history.
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = previous }
    return try body()
}

/// Runs `body` recording, even inside `withoutGrad` (a gradient asked for within a no-grad
/// region, e.g. the Lua bridge's `grad` called from `smia.no_grad`).
public func withGradEnabled<R>(_ body: () throws -> R) rethrows -> R {
    let previous = GradMode.isEnabled
    GradMode.isEnabled = true
    defer { GradMode.isEnabled = previous }
    return try body()
}

extension Tensor {
    /// Bytes of values held alive by this tensor's recorded history: the intermediate results it
    /// was computed from (leaves such as parameters and inputs not included). For callers that
    /// account for memory the graph keeps, like the Lua bridge, whose collector sees none of it.
    public var historyBytes: Int {
        var seen = Set<ObjectIdentifier>()
        var stack = [self]
        var total = 0
        while let t = stack.popLast() {
            for input in t.origin?.inputs ?? [] where input.origin != nil && seen.insert(ObjectIdentifier(input)).inserted {
                total += input.count * MemoryLayout<Float>.size
                stack.append(input)
            }
        }
        return total
    }

    /// Attaches a gradient rule to `self` when recording is on and any input needs a gradient.
    /// Returns `self` so ops can end with `return record(...)`.
    @discardableResult
    func recording(_ name: String, _ inputs: [Tensor], _ backward: @escaping BackwardRule) -> Tensor {
        if GradMode.isEnabled, inputs.contains(where: { $0.needsGrad }) {
            origin = Origin(name: name, inputs: inputs, result: self, backward: backward)
        }
        return self
    }
}

/// Gradients of the scalar `output` with respect to each tensor of `inputs` (zeros for a tensor
/// the output does not depend on). `seed` replaces the implicit gradient 1 of the output.
public func grad(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil) throws -> [Tensor] {
    if seed == nil, output.count != 1 {
        throw TensorError("grad: expected a scalar output (one element), got size \(describeShape(output.shape))")
    }
    if let seed, seed.shape != output.shape {
        throw TensorError("grad: seed of size \(describeShape(seed.shape)) does not match output size \(describeShape(output.shape))")
    }
    let wanted = Set(inputs.map(ObjectIdentifier.init))
    let order = topologicalOrder(from: output)

    // Which tensors lead to a requested one; order lists inputs before their results.
    var reaches = Set<ObjectIdentifier>()
    for t in order {
        let id = ObjectIdentifier(t)
        if wanted.contains(id) || (t.origin?.inputs.contains { reaches.contains(ObjectIdentifier($0)) } ?? false) {
            reaches.insert(id)
        }
    }

    var grads: [ObjectIdentifier: Tensor] = [:]
    grads[ObjectIdentifier(output)] = seed ?? Tensor(uncheckedShape: output.shape, storage: [Float](repeating: 1, count: output.count))
    try withoutGrad {
        for t in order.reversed() {
            let id = ObjectIdentifier(t)
            guard let origin = t.origin, reaches.contains(id), let g = grads[id] else { continue }
            try origin.checkUnchanged(result: t)
            let needed = origin.inputs.map { reaches.contains(ObjectIdentifier($0)) }
            let inputGrads = try origin.backward(g, needed)
            for (i, input) in origin.inputs.enumerated() where needed[i] {
                guard let gi = inputGrads[i] else { continue }
                let key = ObjectIdentifier(input)
                if let existing = grads[key] {
                    grads[key] = try existing + gi
                } else {
                    grads[key] = gi
                }
            }
            // Gradients of intermediate results are not needed once passed on.
            if !wanted.contains(id) { grads[id] = nil }
        }
    }
    // Rules pass gradients on unchanged (add, identity reshapes), so two inputs, or an input and
    // the seed, may hold the same tensor: hand out distinct ones, so an in-place update of one
    // (an optimizer's `assign`) cannot change another. Copies share storage until written.
    var handedOut: Set<ObjectIdentifier> = seed.map { [ObjectIdentifier($0)] } ?? []
    return inputs.map { input in
        guard let g = grads[ObjectIdentifier(input)] else { return Tensor.zerosUnchecked(input.shape) }
        return handedOut.insert(ObjectIdentifier(g)).inserted ? g : g.detached()
    }
}

/// Every tensor reachable from `output` through origins, inputs before results. Iterative so
/// deep graphs (long attack loops are not recorded, but deep networks are) cannot overflow the stack.
private func topologicalOrder(from output: Tensor) -> [Tensor] {
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Tensor, Int)] = [(output, 0)]
    visited.insert(ObjectIdentifier(output))
    while let (t, next) = stack.popLast() {
        let inputs = t.origin?.inputs ?? []
        if next < inputs.count {
            stack.append((t, next + 1))
            let child = inputs[next]
            if visited.insert(ObjectIdentifier(child)).inserted {
                stack.append((child, 0))
            }
        } else {
            order.append(t)
        }
    }
    return order
}

extension Tensor {
    /// Whether `input` is `self` or one of the tensors `self` was computed from while recording:
    /// a loss that does not reach the tensor whose gradient is asked for has a zero gradient.
    public func dependsOn(_ input: Tensor) -> Bool {
        let target = ObjectIdentifier(input)
        var visited = Set<ObjectIdentifier>()
        var stack = [self]
        while let t = stack.popLast() {
            let id = ObjectIdentifier(t)
            if id == target { return true }
            guard visited.insert(id).inserted else { continue }
            stack.append(contentsOf: t.origin?.inputs ?? [])
        }
        return false
    }
}
