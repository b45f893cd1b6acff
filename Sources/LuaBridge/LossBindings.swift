import CLua
import CLuaShim
import Tensor

/// The losses of `smia.nn` (registered by `NNBindings.open`): `loss(input, target[, options])`,
/// the options a table such as `{weight = w, ignore_index = 255, reduction = "sum"}` or just the
/// reduction's name (`"mean"`, `"sum"`, `"none"`). The default reduction is the mean.
enum LossBindings {
    static let functions: [(String, LuaBody)] = [
        ("cross_entropy", { a in
            let logits = try a.tensor(1), target = try a.tensor(2)
            let o = try LossOptions(a, 3, ["weight", "ignore_index", "label_smoothing"])
            return a.push(try Tensor.crossEntropy(logits, target, weight: o.tensor("weight"),
                                                  ignoreIndex: o.integer("ignore_index", default: -100),
                                                  labelSmoothing: Float(o.number("label_smoothing", default: 0)),
                                                  reduction: o.reduction()))
        }),
        ("nll_loss", { a in
            let input = try a.tensor(1), target = try a.tensor(2)
            let o = try LossOptions(a, 3, ["weight", "ignore_index"])
            return a.push(try Tensor.nllLoss(input, target, weight: o.tensor("weight"),
                                             ignoreIndex: o.integer("ignore_index", default: -100), reduction: o.reduction()))
        }),
        ("bce_with_logits", { a in
            let logits = try a.tensor(1), target = try a.tensor(2)
            let o = try LossOptions(a, 3, ["weight", "pos_weight"])
            return a.push(try Tensor.binaryCrossEntropyWithLogits(logits, target, weight: o.tensor("weight"),
                                                                  posWeight: o.tensor("pos_weight"), reduction: o.reduction()))
        }),
        ("mse_loss", { a in
            let input = try a.tensor(1), target = try a.tensor(2)
            return a.push(try Tensor.mseLoss(input, target, reduction: LossOptions(a, 3, []).reduction()))
        }),
        ("l1_loss", { a in
            let input = try a.tensor(1), target = try a.tensor(2)
            return a.push(try Tensor.l1Loss(input, target, reduction: LossOptions(a, 3, []).reduction()))
        }),
        ("kl_div", { a in
            let input = try a.tensor(1), target = try a.tensor(2)
            let o = try LossOptions(a, 3, ["log_target"])
            let name = try o.reductionName() ?? "mean"
            guard let r = KLReduction(rawValue: name) else {
                throw a.error(3, "reduction must be 'mean', 'batchmean', 'sum' or 'none', got '\(name)'")
            }
            return a.push(try Tensor.klDivergence(input, target, reduction: r, logTarget: o.boolean("log_target")))
        }),
        ("dice_loss", { a in
            let logits = try a.tensor(1), target = try a.tensor(2)
            let o = try LossOptions(a, 3, ["smooth"])
            return a.push(try Tensor.diceLoss(logits, target, smooth: Float(o.number("smooth", default: 1)), reduction: o.reduction()))
        }),
    ]
}

/// A loss's options at argument `i`: nothing, a reduction's name, or a table of `names` and
/// `reduction`. Nothing may follow them.
private struct LossOptions {
    let args: LuaArgs
    let index: Int32
    let table: LuaOptions?
    let shorthand: String?

    init(_ a: LuaArgs, _ i: Int32, _ names: [String]) throws {
        args = a
        index = i
        try a.checkNoMore(than: i)
        if a.type(i) == LUA_TSTRING {
            shorthand = try a.string(i)
            table = nil
        } else {
            guard a.isNil(i) || a.type(i) == LUA_TTABLE else { throw a.typeError(i, "table of options or reduction name") }
            shorthand = nil
            table = a.isNil(i) ? nil : try LuaOptions(a, i, names: names + ["reduction"])
        }
    }

    func reductionName() throws -> String? {
        table?.record?.noteDefault("reduction", "'mean'")
        return try shorthand ?? table?.string("reduction")
    }

    func reduction() throws -> Reduction {
        guard let name = try reductionName() else { return .mean }
        guard let r = Reduction(rawValue: name) else {
            throw args.error(index, "reduction must be 'mean', 'sum' or 'none', got '\(name)'")
        }
        return r
    }

    func tensor(_ name: String) throws -> Tensor? { try table?.tensor(name) }
    func integer(_ name: String) throws -> Int? { try table?.integer(name) }
    func number(_ name: String) throws -> Double? { try table?.number(name) }
    func integer(_ name: String, default value: Int) throws -> Int { try table?.integer(name, default: value) ?? value }
    func number(_ name: String, default value: Double) throws -> Double { try table?.number(name, default: value) ?? value }
    func boolean(_ name: String) throws -> Bool { try table?.boolean(name, default: false) ?? false }
}
