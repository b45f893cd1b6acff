/// Passes its input through: a placeholder where an architecture has an optional layer, so
/// the other children keep their state-dict names.
public final class Identity: Module {
    public override func forward(_ x: Tensor) throws -> Tensor { x }
}
