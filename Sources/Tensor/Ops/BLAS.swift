import COpenBLAS
import Foundation

/// GEMM through OpenBLAS, with the threading done here.
///
/// OpenBLAS's own threads spin for a while after each call, which starves the unfolding and
/// folding loops that run between GEMMs in a convolution. So OpenBLAS runs single-threaded and
/// every kernel splits its work across `threadCount` threads itself (Threads.swift).

private let blasSingleThreaded: Void = openblas_set_num_threads(1)

/// `0..<total` cut into at most `parts` nearly equal ranges, none empty.
func splitRange(_ total: Int, parts: Int) -> [Range<Int>] {
    let n = max(1, min(parts, total))
    return (0..<n).map { (total * $0 / n)..<(total * ($0 + 1) / n) }
}

/// Row-major single-precision GEMM on the calling thread: C = alpha * op(A) * op(B) + beta * C.
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    _ = blasSingleThreaded
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The same GEMM spread over the cores by splitting the larger of the rows of C or its columns.
func parallelSgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                   a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                   beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    // Below about a million multiply-adds, threads cost more than they give.
    if m * n * k < 1 << 20 || threadCount == 1 {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    if m >= n {
        let blocks = splitRange(m, parts: threadCount)
        parallelFor(blocks.count) { i in
            let r = blocks[i]
            // Rows of op(A): row r of A, or column r of A when transposed.
            let aBlock = transA ? a + r.lowerBound : a + r.lowerBound * lda
            sgemm(transA: transA, transB: transB, m: r.count, n: n, k: k, a: aBlock, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c + r.lowerBound * ldc, ldc: ldc)
        }
    } else {
        let blocks = splitRange(n, parts: threadCount)
        parallelFor(blocks.count) { i in
            let r = blocks[i]
            let bBlock = transB ? b + r.lowerBound * ldb : b + r.lowerBound
            sgemm(transA: transA, transB: transB, m: m, n: r.count, k: k, a: a, lda: lda, b: bBlock, ldb: ldb,
                  beta: beta, c: c + r.lowerBound, ldc: ldc)
        }
    }
}
