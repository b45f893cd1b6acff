/// Eight floats at a time from and to memory at any alignment: the metrics' loops over image
/// values (StructuralSimilarity, PerturbationStatistics) run in these lanes.
extension SIMD8<Float> {
    static func load(_ p: UnsafePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }
    func store(to p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self) }
}
