import CLogistic

/// σ(z), 1 − σ(z), log σ(z) and log(1 − σ(z)) of logits, those asked for, from the C kernel
/// (`Sources/CLogistic`): Cephes's exp and log polynomials four values at a time, within a few
/// units in the last place, finite logarithms for any finite logit, and the same results on
/// every CPU. The engine's sigmoid, log-sigmoid and focal loss take their values from here
/// rather than calling the C library's exp and log1p once per value.
struct LogisticValues {
    /// Empty where not asked for.
    let p, q, logP, logQ: [Float]

    init(_ z: [Float], p wantP: Bool = false, q wantQ: Bool = false, logP wantLogP: Bool = false, logQ wantLogQ: Bool = false) {
        let n = z.count
        func buffer(_ wanted: Bool) -> [Float] { [Float](repeating: 0, count: wanted ? n : 0) }
        var p = buffer(wantP), q = buffer(wantQ), logP = buffer(wantLogP), logQ = buffer(wantLogQ)
        z.withUnsafeBufferPointer { pz in
            p.withUnsafeMutableBufferPointer { pp in
                q.withUnsafeMutableBufferPointer { pq in
                    logP.withUnsafeMutableBufferPointer { plp in
                        logQ.withUnsafeMutableBufferPointer { plq in
                            guard let z = pz.baseAddress else { return }
                            // About 20 vector operations per value: worth the threads sooner than a copy.
                            parallelRanges(n, cost: 16) { r in
                                // An output not asked for is an empty array, whose base address need not be nil.
                                func at(_ b: UnsafeMutableBufferPointer<Float>) -> UnsafeMutablePointer<Float>? {
                                    b.count == n ? b.baseAddress.map { $0 + r.lowerBound } : nil
                                }
                                smia_logistic(z + r.lowerBound, at(pp), at(pq), at(plp), at(plq), r.count)
                            }
                        }
                    }
                }
            }
        }
        (self.p, self.q, self.logP, self.logQ) = (p, q, logP, logQ)
    }
}
