/// Loading weights by name into a module: strict (every name present, known and of the right
/// shape, or nothing changes) or not (what fits is loaded), with a short account of what did not
/// fit and the likely cause.

/// How a set of named tensors matched a module's state.
public struct StateDictMatch {
    /// The module's names the entries did not give.
    public let missing: [String]
    /// The entries' names (as given) the module does not have.
    public let unexpected: [String]
    /// Names present on both sides with different shapes.
    public let mismatched: [(name: String, expected: [Int], got: [Int])]
    /// How many of the module's tensors the entries fit.
    public let matched: Int
    /// A prefix every unexpected name starts with and whose removal turns some of them into
    /// missing names (PyTorch's `DataParallel` saves `module.`-prefixed names).
    public let prefixHint: String?

    public var isExact: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    /// Counts, a few names of each kind, and the prefix hint.
    public var summary: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("\(missing.count) missing keys: \(Self.examples(missing))") }
        if !unexpected.isEmpty { parts.append("\(unexpected.count) unexpected keys: \(Self.examples(unexpected))") }
        if !mismatched.isEmpty {
            let shown = mismatched.map { "\($0.name) (expected \(describeShape($0.expected)), got \(describeShape($0.got)))" }
            parts.append("\(mismatched.count) size mismatch: \(Self.examples(shown))")
        }
        var text = parts.joined(separator: "; ")
        if let prefixHint {
            text += "; every unexpected key starts with '\(prefixHint)': load with {strip_prefix = \"\(prefixHint)\"}"
        }
        return text
    }

    private static func examples(_ names: [String], shown: Int = 4) -> String {
        let head = names.prefix(shown).joined(separator: ", ")
        return names.count > shown ? "\(head), ... (\(names.count - shown) more)" : head
    }
}

extension Module {
    /// Copies values into the state by name. `stripPrefix` is removed from the front of the
    /// given names that start with it. Strict: every name must be present, known and of the right
    /// shape, else the error summarizes what is not and nothing is changed. Not strict: the
    /// tensors whose name and shape fit are loaded, and the match says what was left.
    @discardableResult
    public func loadStateDict(_ entries: [(name: String, tensor: Tensor)], source: String = "weights",
                              strict: Bool = true, stripPrefix: String? = nil) throws -> StateDictMatch {
        let renamed = entries.map { entry -> (given: String, name: String, tensor: Tensor) in
            if let p = stripPrefix, !p.isEmpty, entry.name.hasPrefix(p) {
                return (entry.name, String(entry.name.dropFirst(p.count)), entry.tensor)
            }
            return (entry.name, entry.name, entry.tensor)
        }
        let own = stateDict()
        let given = Dictionary(renamed.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        let ownNames = Set(own.map(\.name))
        let missing = own.map(\.name).filter { given[$0] == nil }
        let unexpected = renamed.filter { !ownNames.contains($0.name) }.map(\.given)
        var mismatched: [(name: String, expected: [Int], got: [Int])] = []
        var fitting: [(target: Tensor, source: Tensor)] = []
        for entry in own {
            guard let t = given[entry.name] else { continue }
            if t.shape == entry.tensor.shape {
                fitting.append((entry.tensor, t))
            } else {
                mismatched.append((entry.name, entry.tensor.shape, t.shape))
            }
        }
        let match = StateDictMatch(missing: missing, unexpected: unexpected, mismatched: mismatched,
                                   matched: fitting.count, prefixHint: commonPrefix(of: unexpected, explaining: missing))
        if strict, !match.isExact {
            throw TensorError("load_weights: \(source) does not fit \(typeName): \(match.summary)")
        }
        for pair in fitting { try pair.target.assign(pair.source) }
        return match
    }
}

/// The first dotted component shared by every name in `names`, when removing it turns at least
/// one of them into a name of `missing`.
private func commonPrefix(of names: [String], explaining missing: [String]) -> String? {
    guard let first = names.first, let dot = first.firstIndex(of: ".") else { return nil }
    let prefix = String(first[...dot])
    guard names.allSatisfy({ $0.hasPrefix(prefix) }) else { return nil }
    let wanted = Set(missing)
    return names.contains { wanted.contains(String($0.dropFirst(prefix.count))) } ? prefix : nil
}
