import Tensor
import XCTest

/// Max, average and adaptive average pooling: gradients, and forward values against direct loops
/// written from PyTorch's definitions.
final class PoolingGradTests: XCTestCase {
    // MARK: Reference implementations

    /// PyTorch's pooled size: floor or ceil, and in ceil mode no window may start in the right padding.
    static func pooledSize(_ size: Int, _ k: Int, _ s: Int, _ p: Int, ceil: Bool) -> Int {
        let span = size + 2 * p - k
        var out = (ceil ? (span + s - 1) / s : span / s) + 1
        if ceil && (out - 1) * s >= size + p { out -= 1 }
        return out
    }

    /// Calls `body(plane, outIndex, rows, cols, windowArea)` per output position; `rows`/`cols`
    /// are the window clipped to the image, `windowArea` the window clipped to the padded image.
    static func windows(_ shape: [Int], _ o: Pool2dOptions,
                        _ body: (Int, Range<Int>, Range<Int>, Int) -> Void) -> [Int] {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let oh = pooledSize(h, o.kernel.0, o.stride.0, o.padding.0, ceil: o.ceilMode)
        let ow = pooledSize(w, o.kernel.1, o.stride.1, o.padding.1, ceil: o.ceilMode)
        for plane in 0..<(n * c) {
            for y in 0..<oh {
                for x in 0..<ow {
                    let y0 = y * o.stride.0 - o.padding.0, x0 = x * o.stride.1 - o.padding.1
                    let y1 = min(y0 + o.kernel.0, h + o.padding.0), x1 = min(x0 + o.kernel.1, w + o.padding.1)
                    body(plane, max(y0, 0)..<min(y1, h), max(x0, 0)..<min(x1, w), (y1 - y0) * (x1 - x0))
                }
            }
        }
        return [n, c, oh, ow]
    }

    static func naiveMaxPool(_ x: Tensor, _ o: Pool2dOptions) -> ([Int], [Float]) {
        let (h, w) = (x.shape[2], x.shape[3])
        var out: [Float] = []
        let shape = windows(x.shape, o) { plane, rows, cols, _ in
            var m = -Float.infinity
            for r in rows { for c in cols { m = max(m, x.storage[(plane * h + r) * w + c]) } }
            out.append(m)
        }
        return (shape, out)
    }

    static func naiveAvgPool(_ x: Tensor, _ o: Pool2dOptions) -> ([Int], [Float]) {
        let (h, w) = (x.shape[2], x.shape[3])
        var out: [Float] = []
        let shape = windows(x.shape, o) { plane, rows, cols, area in
            var s = 0.0
            for r in rows { for c in cols { s += Double(x.storage[(plane * h + r) * w + c]) } }
            out.append(Float(s / Double(o.countIncludePad ? area : rows.count * cols.count)))
        }
        return (shape, out)
    }

    /// Bins `floor(i * H / oh) ..< ceil((i + 1) * H / oh)`.
    static func naiveAdaptiveAvgPool(_ x: Tensor, _ oh: Int, _ ow: Int) -> ([Int], [Float]) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        func bin(_ i: Int, _ size: Int, _ out: Int) -> Range<Int> {
            let start = Int((Double(i * size) / Double(out)).rounded(.down))
            let end = Int((Double((i + 1) * size) / Double(out)).rounded(.up))
            return start..<end
        }
        var out: [Float] = []
        for plane in 0..<(n * c) {
            for y in 0..<oh {
                for xo in 0..<ow {
                    let rows = bin(y, h, oh), cols = bin(xo, w, ow)
                    var s = 0.0
                    for r in rows { for cc in cols { s += Double(x.storage[(plane * h + r) * w + cc]) } }
                    out.append(Float(s / Double(rows.count * cols.count)))
                }
            }
        }
        return ([n, c, oh, ow], out)
    }

    // MARK: Configurations

    static let poolCases: [(String, [Int], Pool2dOptions)] = [
        ("k2 s2", [2, 2, 4, 4], Pool2dOptions(kernel: (2, 2))),
        ("k2 s2 odd size", [1, 2, 5, 5], Pool2dOptions(kernel: (2, 2))),
        ("k3 s2 p1", [1, 2, 5, 5], Pool2dOptions(kernel: (3, 3), stride: (2, 2), padding: (1, 1))),
        ("k3 s1 overlapping", [1, 1, 5, 5], Pool2dOptions(kernel: (3, 3), stride: (1, 1))),
        ("k3 s2 ceil", [1, 2, 6, 6], Pool2dOptions(kernel: (3, 3), stride: (2, 2), ceilMode: true)),
        ("k2 s2 p1 ceil (dropped window)", [1, 2, 5, 5], Pool2dOptions(kernel: (2, 2), stride: (2, 2), padding: (1, 1), ceilMode: true)),
        ("k3 s2 p1 ceil", [1, 1, 6, 6], Pool2dOptions(kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)),
        ("k3 s3 ceil", [1, 2, 7, 5], Pool2dOptions(kernel: (3, 3), stride: (3, 3), ceilMode: true)),
        ("non-square", [1, 2, 5, 6], Pool2dOptions(kernel: (2, 3), stride: (1, 2), padding: (1, 1))),
        ("k3 s2 p1 many inner windows", [2, 2, 9, 7], Pool2dOptions(kernel: (3, 3), stride: (2, 2), padding: (1, 1))),
        ("whole image", [2, 2, 3, 4], Pool2dOptions(kernel: (3, 4))),
        // Rows wide enough for blocks of eight windows at a time, and windows left over.
        ("k3 s2 p1 wide rows", [1, 2, 7, 45], Pool2dOptions(kernel: (3, 3), stride: (2, 2), padding: (1, 1))),
        ("k2 s2 wide rows", [1, 2, 4, 40], Pool2dOptions(kernel: (2, 2))),
    ]

    static let adaptiveCases: [(String, [Int], (Int, Int))] = [
        ("7 to 3", [1, 2, 7, 7], (3, 3)),
        ("5 to 3", [2, 1, 5, 5], (3, 3)),
        ("6x7 to 4x3", [1, 2, 6, 7], (4, 3)),
        ("identity", [1, 2, 4, 4], (4, 4)),
        ("global", [2, 3, 3, 5], (1, 1)),
        ("upsampling 3 to 5", [1, 2, 3, 3], (5, 5)),
        ("divisible 6 to 2", [1, 2, 6, 6], (2, 2)),
    ]

    // MARK: Gradients

    func testMaxPoolGradients() {
        for (i, (name, shape, o)) in Self.poolCases.enumerated() {
            // Distinct values, so the winner of each window does not change under a step.
            let x = Make.distinct(shape, seed: UInt64(i + 1), spacing: 0.05)
            gradCheck("max pool \(name)", [x], step: 1e-2, tolerance: 1e-3) { try Tensor.maxPool2d($0[0], o) }
        }
    }

    func testAvgPoolGradients() {
        for (i, (name, shape, o)) in Self.poolCases.enumerated() {
            for include in [true, false] {
                var options = o
                options.countIncludePad = include
                let x = Make.normal(shape, seed: UInt64(20 + i))
                gradCheck("avg pool \(name) countIncludePad \(include)", [x], tolerance: 1e-3) { try Tensor.avgPool2d($0[0], options) }
            }
        }
    }

    func testAdaptiveAvgPoolGradients() {
        for (i, (name, shape, size)) in Self.adaptiveCases.enumerated() {
            let x = Make.normal(shape, seed: UInt64(40 + i))
            gradCheck("adaptive avg pool \(name)", [x], tolerance: 1e-3) { try Tensor.adaptiveAvgPool2d($0[0], outputSize: size) }
        }
    }

    // MARK: Forward values

    func testForwardAgainstDirectLoops() throws {
        for (i, (name, shape, o)) in Self.poolCases.enumerated() {
            let x = Make.normal(shape, seed: UInt64(60 + i))
            let maxRef = Self.naiveMaxPool(x, o)
            assertValues(try Tensor.maxPool2d(x, o), maxRef.0, maxRef.1, accuracy: 0, "max pool \(name)")
            for include in [true, false] {
                var options = o
                options.countIncludePad = include
                let avgRef = Self.naiveAvgPool(x, options)
                assertValues(try Tensor.avgPool2d(x, options), avgRef.0, avgRef.1, accuracy: 1e-6, "avg pool \(name) include \(include)")
            }
        }
        for (i, (name, shape, size)) in Self.adaptiveCases.enumerated() {
            let x = Make.normal(shape, seed: UInt64(80 + i))
            let ref = Self.naiveAdaptiveAvgPool(x, size.0, size.1)
            assertValues(try Tensor.adaptiveAvgPool2d(x, outputSize: size), ref.0, ref.1, accuracy: 1e-6, "adaptive \(name)")
        }
    }

    /// Windows with ties and NaN, in rows wide enough for eight windows at a time: the first
    /// largest value in row order wins and a NaN wins over any number (PyTorch's rule), in the
    /// values and in where the gradient goes.
    func testTiesAndNaNInWideRows() throws {
        let shape = [1, 2, 6, 44]
        var values = (0..<(2 * 6 * 44)).map { Float(($0 * 7919) % 5) }
        for i in [3 * 44 + 9, 44 + 40, 6 * 44 + 4 * 44 + 20] { values[i] = .nan }
        let x = Make.tensor(shape, values)
        for o in [Pool2dOptions(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), Pool2dOptions(kernel: (2, 2))] {
            var expected: [Float] = [], winners: [Int] = []
            let outShape = Self.windows(shape, o) { plane, rows, cols, _ in
                var best = -Float.infinity, at = -1
                for r in rows {
                    for c in cols {
                        let i = (plane * 6 + r) * 44 + c
                        if at < 0 || (!best.isNaN && (values[i] > best || values[i].isNaN)) { (best, at) = (values[i], i) }
                    }
                }
                expected.append(best)
                winners.append(at)
            }
            let y = try Tensor.maxPool2d(x, o)
            XCTAssertEqual(y.shape, outShape)
            for (i, (v, e)) in zip(y.storage, expected).enumerated() where !(v == e || (v.isNaN && e.isNaN)) {
                XCTFail("kernel \(o.kernel): output \(i) is \(v), expected \(e)")
            }
            let r = (0..<y.count).map { Float($0 + 1) }
            let leaf = try Tensor(shape: shape, storage: values)
            leaf.requiresGrad = true
            let dx = try grad(of: (try Tensor.maxPool2d(leaf, o) * Make.tensor(outShape, r)).sum(), wrt: [leaf])[0].storage
            var expectedGrad = [Float](repeating: 0, count: values.count)
            for (k, at) in winners.enumerated() { expectedGrad[at] += r[k] }
            XCTAssertEqual(dx, expectedGrad, "kernel \(o.kernel): where the gradient goes")
        }
    }

    /// Numbers PyTorch gives for the same calls.
    func testPyTorchConventionsByHand() throws {
        let row6 = Make.tensor([1, 1, 1, 6], [0, 1, 2, 3, 4, 5])
        // ceil_mode: the last window [4, 5] is cut by the image edge, and the edge beyond the
        // padding never counts, even with count_include_pad.
        for include in [true, false] {
            let o = Pool2dOptions(kernel: (1, 3), stride: (1, 2), ceilMode: true, countIncludePad: include)
            assertValues(try Tensor.avgPool2d(row6, o), [1, 1, 1, 3], [1, 3, 4.5], "avg ceil include \(include)")
        }
        // With padding 1: windows start at -1, 1, 3, 5; the last covers 5 and one padded zero.
        let padded = Pool2dOptions(kernel: (1, 3), stride: (1, 2), padding: (0, 1), ceilMode: true, countIncludePad: true)
        assertValues(try Tensor.avgPool2d(row6, padded), [1, 1, 1, 4], [1.0 / 3, 2, 4, 2.5], "avg ceil pad include")
        var excluded = padded
        excluded.countIncludePad = false
        assertValues(try Tensor.avgPool2d(row6, excluded), [1, 1, 1, 4], [0.5, 2, 4, 5], "avg ceil pad exclude")

        // count_include_pad on a 3x3 image of ones, 3x3 window, stride 1, padding 1.
        let ones = try Tensor.ones([1, 1, 3, 3])
        let k3p1 = Pool2dOptions(kernel: (3, 3), stride: (1, 1), padding: (1, 1))
        assertValues(try Tensor.avgPool2d(ones, k3p1), [1, 1, 3, 3],
                     [4, 6, 4, 6, 9, 6, 4, 6, 4].map { $0 / 9 }, "count_include_pad")
        var k3p1x = k3p1
        k3p1x.countIncludePad = false
        assertValues(try Tensor.avgPool2d(ones, k3p1x), [1, 1, 3, 3], [Float](repeating: 1, count: 9), "exclude pad")

        // A ceil-mode window may not start in the right padding: 5 wide, k2 s2 p1 gives 3, not 4.
        let row5 = Make.tensor([1, 1, 1, 5], [0, 1, 2, 3, 4])
        let dropped = Pool2dOptions(kernel: (1, 2), stride: (1, 2), padding: (0, 1), ceilMode: true)
        assertValues(try Tensor.maxPool2d(row5, dropped), [1, 1, 1, 3], [0, 2, 4], accuracy: 0, "max ceil dropped window")
        assertValues(try Tensor.maxPool2d(row5, Pool2dOptions(kernel: (1, 2), stride: (1, 2), padding: (0, 1))),
                     [1, 1, 1, 3], [0, 2, 4], accuracy: 0, "max floor")
        assertValues(try Tensor.maxPool2d(row5, Pool2dOptions(kernel: (1, 2), ceilMode: true)),
                     [1, 1, 1, 3], [1, 3, 4], accuracy: 0, "max ceil partial window")
        // Padding is -infinity for max pooling: negative values win over it.
        let negative = Make.tensor([1, 1, 2, 2], [-4, -3, -2, -1])
        assertValues(try Tensor.maxPool2d(negative, Pool2dOptions(kernel: (2, 2), stride: (1, 1), padding: (1, 1))),
                     [1, 1, 3, 3], [-4, -3, -3, -2, -1, -1, -2, -1, -1], accuracy: 0, "max pad")

        // Adaptive bins: 7 -> 3 is [0,3) [2,5) [4,7); 5 -> 3 is [0,2) [1,4) [3,5).
        let row7 = Make.tensor([1, 1, 1, 7], [0, 1, 2, 3, 4, 5, 6])
        assertValues(try Tensor.adaptiveAvgPool2d(row7, outputSize: (1, 3)), [1, 1, 1, 3], [1, 3, 5], "adaptive 7 to 3")
        assertValues(try Tensor.adaptiveAvgPool2d(row5, outputSize: (1, 3)), [1, 1, 1, 3], [0.5, 2, 3.5], "adaptive 5 to 3")
        // 3 -> 5: [0,1) [0,2) [1,2) [1,3) [2,3).
        let row3 = Make.tensor([1, 1, 1, 3], [0, 1, 2])
        assertValues(try Tensor.adaptiveAvgPool2d(row3, outputSize: (1, 5)), [1, 1, 1, 5], [0, 0.5, 1, 1.5, 2], "adaptive 3 to 5")
    }

    func testMaxPoolNaNInfinitiesAndTies() throws {
        // 2x2 windows: [1, NaN; 3, 4] gives the NaN, [inf, 2; -inf, 0] inf (their sum is NaN),
        // [5, 5; 5, 1] the first 5, as PyTorch.
        let x = Make.tensor([1, 1, 2, 6], [1, .nan, .infinity, 2, 5, 5, 3, 4, -.infinity, 0, 5, 1])
        x.requiresGrad = true
        let y = try Tensor.maxPool2d(x, Pool2dOptions(kernel: (2, 2)))
        XCTAssertTrue(y.storage[0].isNaN)
        XCTAssertEqual(Array(y.storage[1...]), [.infinity, 5])
        let g = try grad(of: y.sum(), wrt: [x])
        XCTAssertEqual(g[0].storage, [0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    }

    /// PyTorch's rule by hand, window by window: the first value, then each later one in row
    /// order replaces it if larger or NaN (the first NaN stays). Returns values and winner indices.
    static func exactMaxPool(_ x: Tensor, _ o: Pool2dOptions) -> ([Float], [Int]) {
        let (h, w) = (x.shape[2], x.shape[3])
        var values: [Float] = [], winners: [Int] = []
        _ = windows(x.shape, o) { plane, rows, cols, _ in
            var best = Float.nan, at = -1
            for r in rows {
                for c in cols {
                    let i = (plane * h + r) * w + c, v = x.storage[i]
                    if at < 0 || (!best.isNaN && (v > best || v.isNaN)) { best = v; at = i }
                }
            }
            values.append(best)
            winners.append(at)
        }
        return (values, winners)
    }

    func testMaxPoolNaNInfinitiesAndTiesInEveryWindowSize() throws {
        // Few distinct values (many ties), with NaN, +inf and -inf sprinkled over the images.
        var rng = SeededRandom(seed: 99)
        let shape = [2, 3, 9, 11]
        let specials: [Float] = [.nan, .infinity, -.infinity]
        let values = (0..<shape.reduce(1, *)).map { _ -> Float in
            rng.below(12) == 0 ? specials[rng.below(3)] : Float(rng.below(4))
        }
        let cases = Self.poolCases.map { ($0.0, $0.2) } + [
            ("k2 s1", Pool2dOptions(kernel: (2, 2), stride: (1, 1))),
            ("k3 s1 p1", Pool2dOptions(kernel: (3, 3), stride: (1, 1), padding: (1, 1))),
            ("k4 s3", Pool2dOptions(kernel: (4, 4), stride: (3, 3))),
        ]
        for (name, o) in cases {
            let x = Make.tensor(shape, values)
            x.requiresGrad = true
            let y = try Tensor.maxPool2d(x, o)
            let (expected, winners) = Self.exactMaxPool(x, o)
            XCTAssertEqual(y.count, expected.count, name)
            for (i, (v, e)) in zip(y.storage, expected).enumerated() where !(v == e || (v.isNaN && e.isNaN)) {
                XCTFail("\(name): output \(i) is \(v), expected \(e)")
                break
            }
            // Each output's gradient goes to its window's winner.
            let weights = (0..<y.count).map { Float($0 % 7 + 1) }
            let g = try grad(of: try (y * Make.tensor(y.shape, weights)).sum(), wrt: [x])
            var expectedGrad = [Float](repeating: 0, count: x.count)
            for (k, at) in winners.enumerated() { expectedGrad[at] += weights[k] }
            XCTAssertEqual(g[0].storage, expectedGrad, name)
        }
    }

    func testMaxPoolGradientGoesToTheWinner() throws {
        // Overlapping windows: an element that wins twice gets both gradients.
        let x = Make.tensor([1, 1, 3, 3], [1, 2, 3, 4, 9, 5, 6, 7, 8])
        x.requiresGrad = true
        let y = try Tensor.maxPool2d(x, Pool2dOptions(kernel: (2, 2), stride: (1, 1)))
        assertValues(y, [1, 1, 2, 2], [9, 9, 9, 9], accuracy: 0, "values")
        let g = try grad(of: try (y * Make.tensor([1, 1, 2, 2], [1, 2, 3, 4])).sum(), wrt: [x])
        assertValues(g[0], [1, 1, 3, 3], [0, 0, 0, 0, 10, 0, 0, 0, 0], accuracy: 0, "gradient")
    }
}
