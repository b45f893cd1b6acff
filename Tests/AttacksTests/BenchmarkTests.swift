import Attacks
import Tensor
import XCTest

/// The generated benchmarks: determinism, ranges, labels, masks, boxes, and that they cannot be
/// solved from global statistics alone.
final class BenchmarkTests: XCTestCase {
    let fundus = FundusBenchmark(), ct = CTLungBenchmark(), endoscopy = EndoscopyBenchmark()

    func testRegistry() throws {
        XCTAssertEqual(Benchmarks.names, ["fundus", "ct_lung", "endoscopy"])
        XCTAssertEqual(Benchmarks.all.map(\.task), [.classification, .segmentation, .detection])
        XCTAssertEqual(Benchmarks.all.map(\.channels), [3, 1, 3])
        XCTAssertEqual(fundus.classNames.count, 5)
        XCTAssertEqual(ct.classNames, ["background", "left lung", "right lung"])
        XCTAssertEqual(endoscopy.classNames.count, 5)
        for b in Benchmarks.all {
            XCTAssertFalse(b.description.isEmpty)
            XCTAssertEqual(try Benchmarks.named(b.name).name, b.name)
        }
        XCTAssertThrowsError(try Benchmarks.named("mnist"))
    }

    func testArgumentsAreChecked() {
        for b in Benchmarks.all {
            XCTAssertThrowsError(try b.generate(count: -1, size: 32, seed: 1))
            XCTAssertThrowsError(try b.generate(count: 2, size: 8, seed: 1))
            XCTAssertThrowsError(try b.generate(count: 2, size: 4096, seed: 1))
            XCTAssertThrowsError(try b.split("holdout", count: 2, size: 32))
            XCTAssertEqual(try b.generate(count: 0, size: 32, seed: 1).count, 0)
        }
    }

    /// Bit patterns, so that "identical" means identical bytes.
    func bits(_ t: Tensor) -> [UInt32] { t.storage.map(\.bitPattern) }

    func testDeterministicAndPrefixes() throws {
        for b in Benchmarks.all {
            let a = try b.generate(count: 7, size: 32, seed: 42)
            let again = try b.generate(count: 7, size: 32, seed: 42)
            XCTAssertEqual(bits(a.images), bits(again.images), b.name)
            XCTAssertEqual(a.labels.map(bits), again.labels.map(bits), b.name)
            XCTAssertEqual(a.boxes, again.boxes, b.name)

            // A smaller set is the prefix of a larger one.
            let small = try b.generate(count: 3, size: 32, seed: 42)
            let per = 32 * 32 * b.channels
            XCTAssertEqual(bits(small.images), Array(bits(a.images)[0..<(3 * per)]), b.name)
            if let labels = a.labels, let smallLabels = small.labels {
                let perLabel = labels.count / 7
                XCTAssertEqual(bits(smallLabels), Array(bits(labels)[0..<(3 * perLabel)]), b.name)
            }
            XCTAssertEqual(small.boxes, Array(a.boxes.prefix(3)), b.name)

            // Another seed, another set; the samples within a set differ too.
            let other = try b.generate(count: 7, size: 32, seed: 43)
            XCTAssertNotEqual(bits(a.images), bits(other.images), b.name)
            XCTAssertNotEqual(Array(bits(a.images)[0..<per]), Array(bits(a.images)[per..<(2 * per)]), b.name)
        }
    }

    func testSplitsUseTheirOwnSeeds() throws {
        XCTAssertEqual(Set(BenchmarkSplit.allCases.map(\.seed)).count, 3)
        for b in Benchmarks.all {
            let train = try b.split("train", count: 2, size: 32)
            let test = try b.split(.test, count: 2, size: 32)
            let val = try b.split("val", count: 2, size: 32)
            XCTAssertEqual(bits(val.images), bits(try b.generate(count: 2, size: 32, seed: BenchmarkSplit.val.seed).images))
            XCTAssertNotEqual(bits(train.images), bits(test.images), b.name)
            XCTAssertNotEqual(bits(train.images), bits(val.images), b.name)
            XCTAssertEqual(try b.split("train", count: 1).images.shape, [1, b.channels, b.defaultSize, b.defaultSize])
        }
    }

    /// FNV-1a over the bytes of a few samples: the data must be the same on every machine. If a
    /// generator is changed on purpose, update these (and say so: it is a new dataset version).
    func testChecksumsAreStable() throws {
        func fnv(_ values: [Float]) -> UInt64 {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for v in values {
                var b = v.bitPattern
                for _ in 0..<4 {
                    h = (h ^ UInt64(b & 0xFF)) &* 0x100_0000_01B3
                    b >>= 8
                }
            }
            return h
        }
        var sums: [String: UInt64] = [:]
        for b in Benchmarks.all {
            let d = try b.generate(count: 3, size: 48, seed: 2021)
            var values = d.images.storage + (d.labels?.storage ?? [])
            for boxes in d.boxes { for x in boxes { values += [x.x1, x.y1, x.x2, x.y2, Float(x.label)] } }
            sums[b.name] = fnv(values)
        }
        let expected: [String: UInt64] = [
            "fundus": 0xDE36_CD75_C1A7_8AD0,
            "ct_lung": 0xB9E0_9A8C_D277_E510,
            "endoscopy": 0x6159_99F9_E1E0_8A99,
        ]
        for (name, sum) in sums.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(sum, expected[name], "\(name): checksum 0x\(String(sum, radix: 16)) changed")
        }
    }

    func testShapesAndRanges() throws {
        for b in Benchmarks.all {
            for size in [16, 64, 128] {
                let n = size == 128 ? 2 : 5
                let d = try b.generate(count: n, size: size, seed: 7)
                XCTAssertEqual(d.task, b.task)
                XCTAssertEqual(d.images.shape, [n, b.channels, size, size], b.name)
                let v = d.images.storage
                XCTAssertTrue(v.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(b.name) \(size)")
                // Not blank: real contrast in every image.
                let per = v.count / n
                for i in 0..<n {
                    let img = v[(i * per)..<((i + 1) * per)]
                    XCTAssertGreaterThan((img.max() ?? 0) - (img.min() ?? 0), 0.3, "\(b.name) \(size) image \(i)")
                }
                switch b.task {
                case .classification: XCTAssertEqual(d.labels?.shape, [n]); XCTAssertTrue(d.boxes.isEmpty)
                case .segmentation: XCTAssertEqual(d.labels?.shape, [n, size, size]); XCTAssertTrue(d.boxes.isEmpty)
                case .detection: XCTAssertNil(d.labels); XCTAssertEqual(d.boxes.count, n)
                }
            }
        }
    }

    // MARK: Fundus

    func testFundusLabelsAreBalancedGrades() throws {
        let d = try fundus.generate(count: 500, size: 16, seed: 5)
        let labels = try XCTUnwrap(d.labels).storage
        XCTAssertTrue(labels.allSatisfy { $0 == $0.rounded() && (0...4).contains($0) })
        for g in 0..<5 { XCTAssertEqual(labels.filter { $0 == Float(g) }.count, 100, "grade \(g)") }
        // Each block of five is a permutation of the grades, in varying order.
        var orders = Set<[Float]>()
        for k in 0..<20 {
            let block = Array(labels[(5 * k)..<(5 * k + 5)])
            XCTAssertEqual(block.sorted(), [0, 1, 2, 3, 4])
            orders.insert(block)
        }
        XCTAssertGreaterThan(orders.count, 10)
    }

    /// Mean colour per image (R, G, B) → nearest class centroid, fitted on one set and scored on
    /// another. Chance is 0.2; a grade that showed in global colour would score far above.
    func testFundusGradeIsNotInTheMeanColour() throws {
        let train = try fundus.generate(count: 500, size: 64, seed: 101)
        let test = try fundus.generate(count: 500, size: 64, seed: 202)
        func meanRGB(_ d: BenchmarkData) -> [[Float]] {
            let n = d.count, plane = 64 * 64
            return (0..<n).map { i in
                (0..<3).map { c in d.images.storage[((i * 3 + c) * plane)..<((i * 3 + c + 1) * plane)].reduce(0, +) / Float(plane) }
            }
        }
        let xTrain = meanRGB(train), xTest = meanRGB(test)
        let yTrain = try XCTUnwrap(train.labels).storage.map { Int($0) }, yTest = try XCTUnwrap(test.labels).storage.map { Int($0) }
        var centroids = [[Float]](repeating: [0, 0, 0], count: 5), counts = [Float](repeating: 0, count: 5)
        for (x, y) in zip(xTrain, yTrain) {
            for c in 0..<3 { centroids[y][c] += x[c] }
            counts[y] += 1
        }
        for k in 0..<5 { for c in 0..<3 { centroids[k][c] /= max(counts[k], 1) } }
        var correct = 0
        for (x, y) in zip(xTest, yTest) {
            let distances = centroids.map { m in zip(m, x).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) }
            if distances.firstIndex(of: distances.min() ?? 0) == y { correct += 1 }
        }
        let accuracy = Float(correct) / Float(yTest.count)
        print("fundus: mean-RGB nearest-centroid accuracy \(accuracy) (chance 0.2)")
        XCTAssertLessThan(accuracy, 0.5)
    }

    // MARK: CT lung

    func testCTMasksMatchTheLungs() throws {
        let size = 64, n = 40
        let d = try ct.generate(count: n, size: size, seed: 9)
        let masks = try XCTUnwrap(d.labels).storage, img = d.images.storage
        XCTAssertTrue(masks.allSatisfy { $0 == 0 || $0 == 1 || $0 == 2 })
        var contrast: [Float] = []
        for i in 0..<n {
            let m = Array(masks[(i * size * size)..<((i + 1) * size * size)])
            let x = Array(img[(i * size * size)..<((i + 1) * size * size)])
            for label: Float in [1, 2] {
                let xs = (0..<m.count).filter { m[$0] == label }.map { Float($0 % size) + 0.5 }
                XCTAssertGreaterThan(xs.count, size * size / 40, "image \(i) lung \(label) too small")
                let cx = xs.reduce(0, +) / Float(max(xs.count, 1))
                // Radiological convention: the left lung (1) on the image's right.
                if label == 1 { XCTAssertGreaterThan(cx, Float(size) / 2, "image \(i)") } else { XCTAssertLessThan(cx, Float(size) / 2, "image \(i)") }
            }
            // Lung pixels against the ring of tissue just outside them (2 pixels wide).
            var lung: [Float] = [], ring: [Float] = []
            for y in 0..<size {
                for xx in 0..<size {
                    let k = y * size + xx
                    if m[k] > 0 { lung.append(x[k]); continue }
                    var near = false
                    for dy in -2...2 { for dx in -2...2 {
                        let yy = y + dy, xxx = xx + dx
                        if yy >= 0, yy < size, xxx >= 0, xxx < size, m[yy * size + xxx] > 0 { near = true }
                    } }
                    if near { ring.append(x[k]) }
                }
            }
            let lungMean = lung.reduce(0, +) / Float(lung.count), ringMean = ring.reduce(0, +) / Float(ring.count)
            XCTAssertLessThan(lungMean, ringMean, "image \(i): lungs should be darker than their surroundings")
            contrast.append(ringMean - lungMean)
        }
        XCTAssertGreaterThan(contrast.reduce(0, +) / Float(n), 0.12)
    }

    /// The classic non-learned segmentation: one global intensity threshold, best of a sweep
    /// (an oracle choice), either alone or with the dark region connected to the border (the air
    /// outside the body) removed. Vessels, opacities, airways, noise and windowing keep both
    /// from reaching a lung Jaccard of 0.9.
    func testCTIsNotSolvedByThresholding() throws {
        let size = 64, n = 100
        let d = try ct.generate(count: n, size: size, seed: 11)
        let masks = try XCTUnwrap(d.labels).storage, img = d.images.storage
        let plane = size * size
        let truth = masks.map { $0 > 0 }
        var dark = [Bool](repeating: false, count: plane), outside = dark
        var stack: [Int] = []
        var bestPlain: Float = 0, bestFlood: Float = 0
        for t in stride(from: Float(0.1), through: 0.6, by: 0.025) {
            var plain: Float = 0, flood: Float = 0
            for i in 0..<n {
                let base = i * plane
                for p in 0..<plane { dark[p] = img[base + p] < t; outside[p] = false }
                // The dark region connected to the border: the air round the body.
                for k in 0..<size {
                    for p in [k, (size - 1) * size + k, k * size, k * size + size - 1] where dark[p] && !outside[p] {
                        outside[p] = true
                        stack.append(p)
                    }
                }
                while let p = stack.popLast() {
                    let y = p / size, x = p % size
                    for q in [y > 0 ? p - size : -1, y < size - 1 ? p + size : -1, x > 0 ? p - 1 : -1, x < size - 1 ? p + 1 : -1]
                    where q >= 0 && dark[q] && !outside[q] {
                        outside[q] = true
                        stack.append(q)
                    }
                }
                var interPlain = 0, unionPlain = 0, interFlood = 0, unionFlood = 0
                for p in 0..<plane {
                    let g = truth[base + p], a = dark[p], b = dark[p] && !outside[p]
                    if a && g { interPlain += 1 }
                    if a || g { unionPlain += 1 }
                    if b && g { interFlood += 1 }
                    if b || g { unionFlood += 1 }
                }
                plain += unionPlain == 0 ? 1 : Float(interPlain) / Float(unionPlain)
                flood += unionFlood == 0 ? 1 : Float(interFlood) / Float(unionFlood)
            }
            bestPlain = max(bestPlain, plain / Float(n))
            bestFlood = max(bestFlood, flood / Float(n))
        }
        print("ct_lung: best threshold lung Jaccard \(bestPlain), with border air removed \(bestFlood)")
        XCTAssertLessThan(bestPlain, 0.9)
        XCTAssertLessThan(bestFlood, 0.9)
    }

    // MARK: Endoscopy

    func testEndoscopyBoxes() throws {
        let size = 64, n = 120
        let d = try endoscopy.generate(count: n, size: size, seed: 13)
        XCTAssertEqual(d.boxes.count, n)
        var perClass = [Int](repeating: 0, count: 5)
        var saturationInside: Float = 0, saturationImage: Float = 0
        let plane = size * size
        let pixels = d.images.storage
        for (i, boxes) in d.boxes.enumerated() {
            XCTAssertTrue((1...4).contains(boxes.count), "image \(i) has \(boxes.count) boxes")
            // Brightness: the largest channel.
            var brightness = [Float](repeating: 0, count: plane)
            for p in 0..<plane {
                brightness[p] = max(pixels[i * 3 * plane + p], pixels[(i * 3 + 1) * plane + p], pixels[(i * 3 + 2) * plane + p])
            }
            for b in boxes {
                XCTAssertTrue((0...4).contains(b.label))
                XCTAssertTrue(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= Float(size) && b.y2 <= Float(size), "\(b) outside the image")
                XCTAssertGreaterThanOrEqual(b.width, 1, "\(b)")
                XCTAssertGreaterThanOrEqual(b.height, 1, "\(b)")
                XCTAssertEqual(b.x1, b.x1.rounded(), "box corners are on pixel edges")
                perClass[b.label] += 1
                if b.label == 1 {
                    // A saturated region is brighter than the image around it.
                    var inside: Float = 0, count: Float = 0
                    for y in Int(b.y1)..<Int(b.y2) { for x in Int(b.x1)..<Int(b.x2) { inside += brightness[y * size + x]; count += 1 } }
                    saturationInside += inside / count
                    saturationImage += brightness.reduce(0, +) / Float(plane)
                }
            }
            // Boxes of one image overlap little.
            for a in 0..<boxes.count { for b in (a + 1)..<boxes.count { XCTAssertLessThan(boxes[a].iou(boxes[b]), 0.25) } }
        }
        XCTAssertTrue(perClass.allSatisfy { $0 > n / 10 }, "every class should appear: \(perClass)")
        XCTAssertGreaterThan(saturationInside, saturationImage + 0.15 * Float(perClass[1]))
    }

    // MARK: Sample sheets

    func testSampleSheetSizes() throws {
        let f = try fundus.generate(count: 10, size: 32, seed: 3)
        let sheet = try SampleSheet.render(f, count: 10, columns: 4, padding: 2, scale: 2)
        // 4 columns, 3 rows of 64-pixel tiles, a 5-pixel label bar under each, 2-pixel gaps.
        XCTAssertEqual(sheet.shape, [3, 3 * (64 + 5) + 4 * 2, 4 * 64 + 5 * 2])
        XCTAssertTrue(sheet.storage.allSatisfy { $0 >= 0 && $0 <= 1 })

        let c = try ct.generate(count: 3, size: 32, seed: 3)
        XCTAssertEqual(try SampleSheet.render(c, columns: 8, padding: 1).shape, [3, 32 + 2, 3 * 32 + 4])
        let e = try endoscopy.generate(count: 5, size: 32, seed: 3)
        let boxed = try SampleSheet.render(e, count: 4, columns: 2, padding: 0)
        XCTAssertEqual(boxed.shape, [3, 64, 64])
        // Box outlines are drawn in their class colour.
        let b = try XCTUnwrap(e.boxes[0].last)
        let colour = SampleSheet.palette[b.label]
        XCTAssertEqual((0..<3).map { boxed.storage[($0 * 64 + Int(b.y1)) * 64 + Int(b.x1)] }, colour)

        XCTAssertThrowsError(try SampleSheet.render(images: try Tensor.zeros([2, 2, 8, 8])))
        XCTAssertThrowsError(try SampleSheet.render(images: try Tensor.zeros([2, 3, 8, 8]), masks: try Tensor.zeros([2, 4, 4])))
        XCTAssertThrowsError(try SampleSheet.render(images: try Tensor.zeros([2, 3, 8, 8]), columns: 0))
        // Boxes far outside the image are clipped; labels that are not class indices are skipped.
        XCTAssertNoThrow(try SampleSheet.render(images: try Tensor.zeros([1, 3, 8, 8]),
                                                boxes: [[Box(x1: -1e30, y1: 2, x2: 1e30, y2: .infinity, label: -3), Box(x1: 1, y1: 1, x2: 3, y2: 3, label: 99)]]))
        XCTAssertNoThrow(try SampleSheet.render(images: try Tensor.zeros([2, 3, 8, 8]), labels: try Tensor(shape: [2], storage: [.nan, 1e30])))
    }
}
