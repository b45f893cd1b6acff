import CCPUFeatures
import Tensor
import XCTest

/// The choice of OpenBLAS kernel rests on the CPU's features: a generic kernel is replaced by
/// the best one the instruction sets allow, and nothing else is touched.
final class BLASKernelTests: XCTestCase {
    private func features(avx: Bool = false, fma: Bool = false, avx2: Bool = false,
                          avx512: Bool = false, bf16: Bool = false) -> smia_cpu_features {
        smia_cpu_features(sse3: true, avx: avx, fma: fma, avx2: avx2, avx512_skylake: avx512, avx512_bf16: bf16)
    }

    func testGenericKernelsGiveWayToTheCPUsBest() {
        let avx512 = features(avx: true, fma: true, avx2: true, avx512: true)
        let cooperlake = features(avx: true, fma: true, avx2: true, avx512: true, bf16: true)
        let avx2 = features(avx: true, fma: true, avx2: true)
        let avxOnly = features(avx: true)
        XCTAssertEqual(BLASKernel.better(than: "Prescott", features: avx512), "SkylakeX")
        XCTAssertEqual(BLASKernel.better(than: "Nehalem", features: cooperlake), "Cooperlake")
        XCTAssertEqual(BLASKernel.better(than: "Core2", features: avx2), "Haswell")
        XCTAssertEqual(BLASKernel.better(than: "Haswell", features: avx512), "SkylakeX")
        XCTAssertEqual(BLASKernel.better(than: "Prescott", features: avxOnly), "Sandybridge")
    }

    func testKernelsAsGoodAsTheCPUAllowsAreKept() {
        let avx2 = features(avx: true, fma: true, avx2: true)
        XCTAssertNil(BLASKernel.better(than: "Haswell", features: avx2))
        XCTAssertNil(BLASKernel.better(than: "Zen", features: avx2))
        XCTAssertNil(BLASKernel.better(than: "SkylakeX", features: features(avx: true, fma: true, avx2: true, avx512: true)))
        XCTAssertNil(BLASKernel.better(than: "Prescott", features: features()), "an SSE-only CPU keeps its SSE kernel")
        // AVX2 without FMA is not enough for the Haswell kernels.
        XCTAssertEqual(BLASKernel.better(than: "Prescott", features: features(avx: true, avx2: true)), "Sandybridge")
        XCTAssertNil(BLASKernel.better(than: "SomeFutureCore", features: features(avx: true, fma: true, avx2: true)),
                     "a kernel name not known is left alone")
    }

    func testThreadCountsAreParsed() {
        XCTAssertEqual(EngineThreads.parse("4"), 4)
        XCTAssertEqual(EngineThreads.parse(" 2 "), 2)
        XCTAssertNil(EngineThreads.parse("0"))
        XCTAssertNil(EngineThreads.parse("-1"))
        XCTAssertNil(EngineThreads.parse("two"))
        XCTAssertNil(EngineThreads.parse(""))
    }
}
