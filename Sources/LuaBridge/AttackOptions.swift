import Attacks
import CLua
import CLuaShim
import Tensor

/// One attack as its constructor configured it: the engine's value, and what the bridge adds at
/// run time (the task, target labels, Lua functions kept in the attack's user value).
final class AttackSpec {
    enum Engine {
        case gradient(IterativeAttack)
        case deepfool(DeepFool)
        case cw(CarliniWagner)
        case apgd(APGD)
        case dag(DAG)
    }

    let name: String
    var engine: Engine
    /// Nil: inferred from the rank of the model's output.
    var task: AttackTask?
    var target: Tensor?
    var record = false
    /// `eps` as given, for `ctx.eps`: a number, or per-sample radii.
    var eps: Float = 8 / 255
    var perSampleEps: Tensor?
    /// Options given as Lua functions (`step`, `on_step`, `loss`), in the attack's user value.
    var functions: [String] = []
    /// `name = value` of every option, given or default, for printing.
    var summary: [String] = []

    init(name: String, engine: Engine) {
        self.name = name
        self.engine = engine
    }

    var targeted: Bool { target != nil }
    /// `pgd{eps = 8/255, step = 2/255, ...}`, every option with its value, wrapped near 90 columns.
    var description: String {
        var lines = ["\(name){"]
        for (k, item) in summary.enumerated() {
            let piece = item + (k == summary.count - 1 ? "" : ",")
            if lines[lines.count - 1].count + piece.count + 1 > 90 { lines.append("  ") }
            else if k > 0 { lines[lines.count - 1] += " " }
            lines[lines.count - 1] += piece
        }
        return lines.joined(separator: "\n") + "}"
    }
}

/// Reads the option table of an attack constructor, checking each value, and records every
/// option's value (given or default) for printing, and its default for the reference
/// (`OptionCatalog`). Errors name the option: `bad argument #1 to 'pgd' (option 'eps': must be
/// >= 0, got -1)`.
struct AttackOptionReader {
    let args: LuaArgs
    let options: LuaOptions
    private(set) var summary: [String] = []
    private(set) var functions: [String] = []

    init(_ a: LuaArgs, names: [String]) throws {
        args = a
        options = try LuaOptions(a, 1, names: names)
    }

    private var L: OpaquePointer { args.L }

    func error(_ name: String, _ message: String) -> LuaError {
        args.error(1, "option '\(name)': \(message)")
    }

    /// Pushes the option's raw value and returns its type.
    private func push(_ name: String) -> Int32 {
        guard let index = options.index else {
            lua_pushnil(L)
            return LUA_TNIL
        }
        return rawGetField(L, index, name)
    }

    /// The options' values in the order of the constructor's names (the reference's order).
    var orderedSummary: [String] {
        func position(_ item: String) -> Int {
            options.names.firstIndex { item.hasPrefix("\($0) = ") } ?? options.names.count
        }
        return summary.enumerated().sorted { (position($0.element), $0.offset) < (position($1.element), $1.offset) }.map(\.element)
    }

    /// Records an option's value for printing and its default for the reference.
    private mutating func note(_ name: String, _ value: String, default fallback: String) {
        summary.removeAll { $0.hasPrefix("\(name) = ") }
        summary.append("\(name) = \(value)")
        options.record?.noteDefault(name, fallback)
    }

    private static func format(_ v: Float) -> String { OptionCatalog.describe(Double(v)) }

    /// A finite number; `minimum` is the least allowed value (`exclusive`: strictly above).
    mutating func number(_ name: String, default value: Float, minimum: Float? = nil, exclusive: Bool = false,
                         maximum: Float? = nil, describedDefault: String? = nil) throws -> Float {
        guard let given = try options.number(name) else {
            note(name, Self.format(value), default: describedDefault ?? Self.format(value))
            return value
        }
        let v = Float(given)
        guard v.isFinite else { throw error(name, "must be a finite number, got \(given)") }
        if let minimum {
            if exclusive, v <= minimum { throw error(name, "must be > \(Self.format(minimum)), got \(Self.format(v))") }
            if !exclusive, v < minimum { throw error(name, "must be >= \(Self.format(minimum)), got \(Self.format(v))") }
        }
        if let maximum, v > maximum { throw error(name, "must be <= \(Self.format(maximum)), got \(Self.format(v))") }
        note(name, Self.format(v), default: describedDefault ?? Self.format(value))
        return v
    }

    /// A finite number of at least `minimum`, or nil when not given.
    mutating func optionalNumber(_ name: String, minimum: Float) throws -> Float? {
        guard try options.number(name) != nil else {
            note(name, "nil", default: "nil")
            return nil
        }
        return try number(name, default: 0, minimum: minimum, describedDefault: "nil")
    }

    /// An integer, or nil when not given.
    mutating func optionalInteger(_ name: String) throws -> Int? {
        let v = try options.integer(name)
        note(name, v.map { String($0) } ?? "nil", default: "nil")
        return v
    }

    /// An integer of at least `minimum`.
    mutating func integer(_ name: String, default value: Int, minimum: Int) throws -> Int {
        guard let v = try options.integer(name) else {
            note(name, String(value), default: String(value))
            return value
        }
        guard v >= minimum else { throw error(name, "must be at least \(minimum), got \(v)") }
        note(name, String(v), default: String(value))
        return v
    }

    mutating func boolean(_ name: String, default value: Bool, describedDefault: String? = nil) throws -> Bool {
        let v = try options.boolean(name, default: value)
        note(name, String(v), default: describedDefault ?? String(value))
        return v
    }

    /// One of `choices`.
    mutating func choice(_ name: String, _ choices: [String], default value: String) throws -> String {
        let choices = choices.map { "'\($0)'" }.joined(separator: " or ")
        guard let v = try options.string(name) else {
            note(name, "'\(value)'", default: "'\(value)' (\(choices))")
            return value
        }
        guard choices.contains("'\(v)'") else { throw error(name, "expected \(choices), got '\(v)'") }
        note(name, "'\(v)'", default: "'\(value)' (\(choices))")
        return v
    }

    mutating func tensor(_ name: String) throws -> Tensor? {
        let type = push(name)
        defer { smia_pop(L, 1) }
        if type == LUA_TNIL {
            note(name, "nil", default: "nil")
            return nil
        }
        guard let t = TensorBox.get(L, -1) else { throw error(name, "tensor expected, got \(luaTypeName(L, -1))") }
        note(name, "tensor \(describeShape(t.shape))", default: "nil")
        return t
    }

    /// Whether a function was given (it is kept in the attack's user value).
    mutating func function(_ name: String, required: Bool = false) throws -> Bool {
        let type = push(name)
        defer { smia_pop(L, 1) }
        let fallback = required ? "required" : "nil"
        if type == LUA_TNIL {
            if required { throw args.error(1, "option '\(name)' is required (a function)") }
            note(name, "nil", default: fallback)
            return false
        }
        guard type == LUA_TFUNCTION else { throw error(name, "function expected, got \(luaTypeName(L, -1))") }
        functions.append(name)
        note(name, "function", default: fallback)
        return true
    }

    /// A number, or per-sample values (a tensor of N numbers); both finite and >= 0.
    mutating func radius(_ name: String, default value: Float) throws -> (Float, Tensor?) {
        options.record?.noteDefault(name, Self.format(value))
        let type = push(name)
        let isTensor = TensorBox.get(L, -1) != nil
        let typeName = luaTypeName(L, -1)
        smia_pop(L, 1)
        if type == LUA_TNIL || !isTensor {
            guard type == LUA_TNIL || type == LUA_TNUMBER else {
                throw error(name, "number or tensor expected, got \(typeName)")
            }
            return (try number(name, default: value, minimum: 0), nil)
        }
        guard let t = try tensor(name) else { return (value, nil) }
        guard t.rank == 1, t.count >= 1 else {
            throw error(name, "expected one value per sample (a tensor of size N), got size \(describeShape(t.shape))")
        }
        if let bad = t.storage.first(where: { !($0 >= 0 && $0.isFinite) }) {
            throw error(name, "per-sample values must be finite numbers >= 0, got \(bad)")
        }
        return (t.storage.max() ?? value, t)
    }

    /// A positive number, or a function of the 1-based iteration giving one (then `nil`).
    mutating func step(default value: Float) throws -> Float? {
        let type = push("step")
        let typeName = luaTypeName(L, -1)
        smia_pop(L, 1)
        if type == LUA_TFUNCTION {
            _ = try function("step")
            options.record?.noteDefault("step", "eps/4")
            return nil
        }
        guard type == LUA_TNIL || type == LUA_TNUMBER else {
            throw error("step", "number or function expected, got \(typeName)")
        }
        return try number("step", default: value, minimum: 0, exclusive: true, describedDefault: "eps/4")
    }

    /// `targeted` and `target`: a target implies a targeted attack.
    mutating func target() throws -> Tensor? {
        let labels = try tensor("target")
        let targeted = try boolean("targeted", default: labels != nil, describedDefault: "false (true with target)")
        if targeted, labels == nil { throw args.error(1, "option 'targeted' needs the 'target' labels") }
        if !targeted, labels != nil { throw args.error(1, "option 'target' given with targeted = false") }
        return labels
    }

    /// `task`, or nil to infer it from the model's output.
    mutating func task() throws -> AttackTask? {
        options.record?.noteDefault("task", "nil (from the model)")
        guard try options.string("task") != nil else {
            note("task", "nil", default: "nil (from the model)")
            return nil
        }
        return AttackTask(rawValue: try choice("task", AttackTask.allCases.map(\.rawValue), default: ""))
    }
}
