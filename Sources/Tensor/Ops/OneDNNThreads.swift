import CDNNL

/// How many threads a oneDNN primitive runs on: all of the engine's, except for small work,
/// which runs on the calling thread alone.
///
/// oneDNN's threads are OpenMP's, and the host lets them sleep soon after a parallel region ends
/// (after a brief spin, OpenMPWaitPolicy.swift), so a region may pay for waking a core: about
/// 50 µs on the 2-core virtual machines measured, where, with the threads sleeping at once, a
/// small network's reorders took 1-18 µs alone and 55-80 µs on two threads (the detector's
/// attack step ran 150 such regions), and its convolutions under a million multiply-adds gained
/// nothing or lost. Above that two threads pay even for thin convolutions: the detector's first
/// one (3 to 8 channels at stride 2, 3.5 million) took 0.20 ms alone and 0.14 ms on two, the
/// U-Net's 1 to 4 channel weight gradient 1.37 and 1.01 ms, and the detector's attack step
/// beside two busy processes 19 ms against 23-32 ms. On one thread a forward pass or an input
/// gradient gives the same values (each output is summed by one thread whatever the split); a
/// weight gradient may round differently, as it does between any two thread counts.
enum OneDNNThreads {
    /// Below this many multiply-adds a convolution (or one of its gradients) runs on one thread.
    static let convolutionWork = 1 << 20
    /// Below this many values a reorder between our layout and oneDNN's runs on one thread.
    static let copyValues = 1 << 18

    /// The threads for a convolution of geometry `g` (the same count of multiply-adds for the
    /// forward pass and each gradient). oneDNN fixes a convolution's split of the work when it
    /// plans it, for OpenMP's thread count of the calling thread at that moment: set it before.
    static func forConvolution(_ g: ConvGeometry) -> Int32 {
        let work = g.n * g.o * g.oh * g.ow * g.cg * g.kh * g.kw
        return Int32(work < convolutionWork ? 1 : threadCount)
    }

    /// The threads for a reorder of `values` values.
    static func forCopy(values: Int) -> Int32 {
        Int32(values < copyValues ? 1 : threadCount)
    }
}
