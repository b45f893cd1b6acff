import Foundation
import Tensor
import XCTest

/// The PyTorch reference fixtures in `Tests/Data/fixtures`.
private let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Tests/TensorTests
    .deletingLastPathComponent()  // Tests
    .appendingPathComponent("Data/fixtures")

/// A safetensors image from a header text and raw data bytes.
private func stFile(_ header: String, _ data: [UInt8] = []) -> [UInt8] {
    stFile(Array(header.utf8), data)
}

private func stFile(_ header: [UInt8], _ data: [UInt8] = []) -> [UInt8] {
    leBytes([UInt64(header.count)]) + header + data
}

private func leBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// The header length field of a safetensors image.
private func headerLength(_ bytes: [UInt8]) -> Int {
    Int(bytes[0 ..< 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
}

private func f32Bytes(_ values: [Float]) -> [UInt8] { leBytes(values.map(\.bitPattern)) }

final class SafeTensorsTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("SafeTensorsTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func assertSameBits(_ a: [Float], _ b: [Float], _ message: String = "",
                                file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), message, file: file, line: line)
    }

    /// Reads one tensor of the given dtype from hand-made bytes.
    private func readOne(_ dtype: String, _ shape: [Int], _ data: [UInt8],
                         file: StaticString = #filePath, line: UInt = #line) throws -> Tensor {
        let shapeText = shape.map(String.init).joined(separator: ",")
        let bytes = stFile(#"{"t":{"dtype":"\#(dtype)","shape":[\#(shapeText)],"data_offsets":[0,\#(data.count)]}}"#, data)
        let result = try SafeTensors.read(bytes: bytes, source: "\(dtype).safetensors")
        XCTAssertEqual(result.tensors.count, 1, file: file, line: line)
        XCTAssertEqual(result.tensors.first?.name, "t", file: file, line: line)
        let tensor = try XCTUnwrap(result.tensors.first?.tensor, file: file, line: line)
        XCTAssertEqual(tensor.shape, shape, file: file, line: line)
        return tensor
    }

    private func assertMalformed(_ bytes: [UInt8], _ fragment: String, source: String = "bad.safetensors",
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.read(bytes: bytes, source: source), file: file, line: line) { error in
            guard let error = error as? TensorError else {
                return XCTFail("expected a TensorError, got \(error)", file: file, line: line)
            }
            XCTAssertTrue(error.message.hasPrefix("safetensors: \(source): "), error.message, file: file, line: line)
            if !fragment.isEmpty {
                XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' does not mention '\(fragment)'",
                              file: file, line: line)
            }
        }
    }

    // MARK: Round trips

    func testRoundTripF32SeveralRanks() throws {
        var seed: UInt32 = 12345
        func values(_ n: Int) -> [Float] {
            (0 ..< n).map { _ in
                seed = seed &* 1_664_525 &+ 1_013_904_223
                return Float(Int32(bitPattern: seed)) / 1e9
            }
        }
        let specials: [Float] = [0, -0.0, 1, -1, .infinity, -.infinity, .leastNonzeroMagnitude,
                                 .greatestFiniteMagnitude, -.leastNormalMagnitude, .nan]
        let tensors: [(name: String, tensor: Tensor)] = [
            ("matrix", try Tensor(shape: [2, 3], storage: values(6))),
            ("vector", try Tensor(shape: [10], storage: specials)),
            ("conv.weight", try Tensor(shape: [4, 2, 3, 3], storage: values(72))),
            ("rank5", try Tensor(shape: [1, 2, 1, 3, 2], storage: values(12))),
            ("scalar", Tensor(scalar: 3.25)),
            ("empty", try Tensor(shape: [0, 3], storage: [])),
            ("empty.middle", try Tensor(shape: [3, 0, 2], storage: [])),
        ]
        let file = path("round.safetensors")
        try SafeTensors.write(path: file, tensors: tensors, metadata: [:])
        let back = try SafeTensors.read(path: file)

        // Sorted by name in the file, so that is the file order too.
        let expectedOrder = tensors.map(\.name).sorted()
        XCTAssertEqual(back.tensors.map(\.name), expectedOrder)
        XCTAssertEqual(back.metadata, [:])
        for (name, tensor) in tensors {
            let read = try XCTUnwrap(back.tensors.first { $0.name == name }?.tensor, name)
            XCTAssertEqual(read.shape, tensor.shape, name)
            assertSameBits(read.storage, tensor.storage, name)
        }
        XCTAssertEqual(back.tensors.first { $0.name == "scalar" }?.tensor.shape, [])

        // The file holds exactly what `encode` gives, the header padded to 8 bytes.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        XCTAssertEqual(bytes, try SafeTensors.encode(tensors: tensors, metadata: [:]))
        XCTAssertEqual(headerLength(bytes) % 8, 0)
        XCTAssertEqual(bytes[8], UInt8(ascii: "{"))
        // No temporary file is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["round.safetensors"])
    }

    func testMetadataRoundTrip() throws {
        let metadata = ["arch": "smallcnn", "eps": "0.03137254901960784", "empty": "",
                        "quote\"back\\slash": "line\nbreak\ttab\u{1}", "unicode": "σ = 1, α → 0 🙂"]
        let file = path("meta.safetensors")
        try SafeTensors.write(path: file, tensors: [("w", try Tensor(shape: [2], storage: [1, 2]))], metadata: metadata)
        let back = try SafeTensors.read(path: file)
        XCTAssertEqual(back.metadata, metadata)
        XCTAssertEqual(back.tensors.map(\.name), ["w"])

        // Metadata and no tensors at all.
        let onlyMetadata = try SafeTensors.read(bytes: try SafeTensors.encode(tensors: [], metadata: ["k": "v"]),
                                                source: "mem")
        XCTAssertEqual(onlyMetadata.metadata, ["k": "v"])
        XCTAssertTrue(onlyMetadata.tensors.isEmpty)
    }

    /// Byte-for-byte what the reference implementation writes. Expected bytes produced once with
    /// the Python package safetensors 0.8.0 (`safetensors.numpy.save`) on the same tensors.
    func testEncodeMatchesReferenceImplementation() throws {
        let tensors: [(name: String, tensor: Tensor)] = [
            ("b", try Tensor(shape: [2], storage: [1.5, -2])),
            ("a", try Tensor(shape: [1, 3], storage: [1, 2, 3])),
            ("s", Tensor(scalar: 0.25)),
            ("e", try Tensor(shape: [0, 3], storage: [])),
        ]
        let header = #"{"__metadata__":{"arch":"tiny"},"a":{"dtype":"F32","shape":[1,3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[20,20]},"s":{"dtype":"F32","shape":[],"data_offsets":[20,24]}}  "#
        let data: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 192, 63, 0, 0, 0, 192, 0, 0, 128, 62]
        XCTAssertEqual(Array(header.utf8).count, 256)
        XCTAssertEqual(try SafeTensors.encode(tensors: tensors, metadata: ["arch": "tiny"]), stFile(header, data))

        // Escapes as serde_json writes them; non-ASCII stays raw UTF-8.
        let escaped = #"{"__metadata__":{"k":"v\u0001\t"},"q\"\\\n\#u{e9}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} "#
        XCTAssertEqual(try SafeTensors.encode(tensors: [("q\"\\\n\u{e9}", try Tensor(shape: [1], storage: [1]))],
                                              metadata: ["k": "v\u{1}\t"]),
                       stFile(escaped, [0, 0, 128, 63]))

        // No tensors, no metadata.
        XCTAssertEqual(try SafeTensors.encode(tensors: [], metadata: [:]), stFile("{}      "))
    }

    // MARK: Fixtures

    func testReadsSmallCNNWeightsFixture() throws {
        let file = fixtures.appendingPathComponent("smallcnn_c1_28x28_k10_s2.weights.safetensors").path
        let (tensors, metadata) = try SafeTensors.read(path: file)
        XCTAssertEqual(metadata, ["arch": "smallcnn", "in_channels": "1", "num_classes": "10"])

        // Names and shapes in data-offset order, as the file's header lists them.
        let expected: [(String, [Int])] = [
            ("1.num_batches_tracked", []), ("5.num_batches_tracked", []),
            ("0.bias", [16]), ("0.weight", [16, 1, 3, 3]),
            ("1.bias", [16]), ("1.running_mean", [16]), ("1.running_var", [16]), ("1.weight", [16]),
            ("11.bias", [10]), ("11.weight", [10, 64]),
            ("4.bias", [32]), ("4.weight", [32, 16, 3, 3]),
            ("5.bias", [32]), ("5.running_mean", [32]), ("5.running_var", [32]), ("5.weight", [32]),
            ("9.bias", [64]), ("9.weight", [64, 1568]),
        ]
        XCTAssertEqual(tensors.count, 18)
        XCTAssertEqual(tensors.map(\.name), expected.map(\.0))
        XCTAssertEqual(tensors.map(\.tensor.shape), expected.map(\.1))

        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.tensor) })
        func value(_ name: String, _ index: Int) -> Float? { byName[name]?.storage[index] }
        // I64 scalars.
        XCTAssertEqual(value("1.num_batches_tracked", 0), 1)
        XCTAssertEqual(value("5.num_batches_tracked", 0), 1)
        // F16 values. Expected numbers computed once with python3/numpy (np.frombuffer(..., np.float16)
        // on the file's bytes, then float()); the half bit patterns are in the comments.
        XCTAssertEqual(value("0.weight", 0), 0.07647705078125)        // 0x2CE5
        XCTAssertEqual(value("0.weight", 1), -0.079345703125)         // 0xAD14
        XCTAssertEqual(value("0.weight", 143), 0.153564453125)        // 0x30EA
        XCTAssertEqual(value("0.bias", 0), -0.00356292724609375)      // 0x9B4C
        XCTAssertEqual(value("1.running_var", 0), 1.3193359375)       // 0x3D47
        XCTAssertEqual(value("11.bias", 9), 0.0031261444091796875)    // 0x1A67
        XCTAssertEqual(value("9.weight", 0), 0.01352691650390625)     // 0x22ED
        XCTAssertEqual(value("9.weight", 1284), 4.786252975463867e-05) // 0x0323, subnormal
        XCTAssertEqual(value("9.weight", 1652), 3.814697265625e-06)   // 0x0040, subnormal
        XCTAssertEqual(value("9.weight", 64 * 1568 - 1), -0.0110931396484375) // 0xA1AE
        // Sum of all of 9.weight in float64 by numpy: -0.8548015356063843.
        let sum = byName["9.weight"]?.storage.reduce(0.0) { $0 + Double($1) }
        XCTAssertEqual(sum ?? 0, -0.8548015356063843, accuracy: 1e-9)
    }

    func testReadsSmallCNNExpectedFixture() throws {
        let file = fixtures.appendingPathComponent("smallcnn_c1_28x28_k10_s2.expected.safetensors").path
        let (tensors, metadata) = try SafeTensors.read(path: file)
        XCTAssertEqual(tensors.map(\.name), ["y", "ce_grad_x", "ce_loss", "deepfool", "dev", "fgsm",
                                             "gauss_blur_x", "logits", "pgd", "smia", "x"])
        XCTAssertEqual(metadata["arch"], "smallcnn")
        XCTAssertEqual(metadata["steps"], "5")

        let x = try XCTUnwrap(tensors.first { $0.name == "x" }?.tensor)
        let y = try XCTUnwrap(tensors.first { $0.name == "y" }?.tensor)
        XCTAssertEqual(x.shape, [8, 1, 28, 28])
        XCTAssertEqual(y.shape, [8])
        for label in y.storage {
            XCTAssertEqual(label, label.rounded(), "labels are integers")
            XCTAssertTrue((0 ... 9).contains(label), "label \(label) in 0...9")
        }
        // Values computed once with python3/numpy from the file (float32 printed as float64).
        XCTAssertEqual(y.storage, [1, 1, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(x.storage[0], 0.8078174591064453)
        XCTAssertEqual(x.storage[1], 0.9110434055328369)
        XCTAssertEqual(x.storage[400], 0.35604071617126465)
        XCTAssertEqual(x.storage[6271], 0.2575026750564575)
        XCTAssertEqual(x.storage.min(), 2.7954578399658203e-05)
        XCTAssertEqual(x.storage.max(), 0.9999172687530518)
        XCTAssertEqual(tensors.first { $0.name == "ce_loss" }?.tensor.storage, [2.1804487705230713])
    }

    // MARK: Each dtype, hand-built

    func testF16IncludingSubnormalsAndInfinities() throws {
        let bits: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x8000, 0x3555]
        let expected: [Float] = [1, -2, 5.960464477539063e-08, -5.960464477539063e-08, 6.097555160522461e-05,
                                 6.103515625e-05, 65504, .infinity, -.infinity, -0.0, 0.333251953125]
        let t = try readOne("F16", [11], leBytes(bits))
        assertSameBits(t.storage, expected)

        let nan = try readOne("F16", [2], leBytes([UInt16(0x7E00), 0xFE01]))
        XCTAssertTrue(nan.storage[0].isNaN && nan.storage[0].sign == .plus)
        XCTAssertTrue(nan.storage[1].isNaN && nan.storage[1].sign == .minus)
    }

    #if !(os(macOS) && arch(x86_64))
    /// Every half-precision bit pattern against Swift's own Float16 conversion.
    func testF16AllBitPatternsMatchFloat16() throws {
        let all = (0 ... 0xFFFF).map { UInt16($0) }
        let t = try readOne("F16", [65536], leBytes(all))
        var mismatches: [String] = []
        for (k, h) in all.enumerated() {
            let want = Float(Float16(bitPattern: h))
            let got = t.storage[k]
            let same = want.isNaN ? (got.isNaN && got.sign == want.sign) : got.bitPattern == want.bitPattern
            if !same && mismatches.count < 10 { mismatches.append("0x\(String(h, radix: 16)): \(got) vs \(want)") }
        }
        XCTAssertEqual(mismatches, [])
    }
    #endif

    func testBF16() throws {
        // 0x0001 is the float32 subnormal 0x00010000, 9.183549615799121e-41.
        let t = try readOne("BF16", [2, 3], leBytes([UInt16(0x3F80), 0xC040, 0x3E20, 0x7F80, 0x0001, 0xFF80]))
        assertSameBits(t.storage, [1, -3, 0.15625, .infinity, Float(bitPattern: 0x0001_0000), -.infinity])
        XCTAssertTrue(try readOne("BF16", [1], leBytes([UInt16(0x7FC0)])).storage[0].isNaN)
    }

    func testF64() throws {
        let t = try readOne("F64", [5], leBytes([1.5, -2.25, 0.1, 1e300, -1e-50].map { (d: Double) in d.bitPattern }))
        assertSameBits(t.storage, [1.5, -2.25, 0.10000000149011612, .infinity, -0.0])
    }

    func testIntegerDtypes() throws {
        let i64 = try readOne("I64", [5], leBytes([-1, 42, -9_007_199_254_740_993, .min, .max] as [Int64]))
        XCTAssertEqual(i64.storage, [-1, 42, -9_007_199_254_740_992, -9.223372036854776e18, 9.223372036854776e18])
        let scalar = try readOne("I64", [], leBytes([Int64(-5)]))
        XCTAssertEqual(scalar.storage, [-5])

        let i32 = try readOne("I32", [2, 2], leBytes([-7, 0, .max, .min] as [Int32]))
        XCTAssertEqual(i32.storage, [-7, 0, 2_147_483_648, -2_147_483_648])
        XCTAssertEqual(try readOne("U8", [4], [0, 1, 128, 255]).storage, [0, 1, 128, 255])
        XCTAssertEqual(try readOne("I8", [4], [0x80, 0xFF, 0, 0x7F]).storage, [-128, -1, 0, 127])
        XCTAssertEqual(try readOne("I16", [3], leBytes([-32768, -2, 300] as [Int16])).storage, [-32768, -2, 300])
        XCTAssertEqual(try readOne("U16", [3], leBytes([65535, 0, 1234] as [UInt16])).storage, [65535, 0, 1234])
        XCTAssertEqual(try readOne("U32", [2], leBytes([.max, 7] as [UInt32])).storage, [4_294_967_296, 7])
        XCTAssertEqual(try readOne("U64", [2], leBytes([.max, 3] as [UInt64])).storage, [1.8446744073709552e19, 3])
        XCTAssertEqual(try readOne("BOOL", [3], [0, 1, 2]).storage, [0, 1, 1])
        XCTAssertEqual(try readOne("F32", [2], f32Bytes([0.5, -7])).storage, [0.5, -7])
    }

    func testMixedDtypesComeBackInDataOrder() throws {
        // Unknown fields inside an entry are ignored, as by the reference implementation.
        let header = #"{"late":{"dtype":"U8","shape":[2],"data_offsets":[10,12]},"#
            + #""early":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"#
            + #""none":{"dtype":"F32","shape":[0],"data_offsets":[2,2]},"#
            + #""mid":{"dtype":"I64","shape":[],"data_offsets":[2,10],"ignored":{"a":[1,null,true,-2.5e3]}}}"#
        let data: [UInt8] = [0x00, 0x3C] + leBytes([Int64(-3)]) + [7, 9]
        let result = try SafeTensors.read(bytes: stFile(header, data), source: "mixed")
        XCTAssertEqual(result.tensors.map(\.name), ["early", "none", "mid", "late"])
        XCTAssertEqual(result.tensors.map(\.tensor.storage), [[1], [], [-3], [7, 9]])
    }

    func testHeaderWithWhitespaceEscapesAndNullMetadata() throws {
        let header = " \n{ \"a\\u00e9\\ud83d\\ude42\" : { \"shape\" : [ 1 ] , \"dtype\" : \"F32\" ,"
            + " \"data_offsets\" : [ 0 , 4 ] } , \"__metadata__\" : null }\t  "
        let result = try SafeTensors.read(bytes: stFile(header, f32Bytes([2])), source: "spaces")
        XCTAssertEqual(result.tensors.map(\.name), ["a\u{e9}\u{1F642}"])
        XCTAssertEqual(result.metadata, [:])
    }

    // MARK: Malformed input

    func testCountMismatchMessage() {
        let header = #"{"fc.weight":{"dtype":"F16","shape":[2,512],"data_offsets":[0,1000]}}"#
        XCTAssertThrowsError(try SafeTensors.read(bytes: stFile(header, [UInt8](repeating: 0, count: 1000)),
                                                  source: "model.safetensors")) { error in
            XCTAssertEqual((error as? TensorError)?.message,
                           "safetensors: model.safetensors: tensor 'fc.weight' needs 2048 bytes for F16 2x512 "
                               + "but its data_offsets span 1000")
        }
    }

    func testMalformedHeadersThrow() {
        func entry(_ body: String, data: Int = 8) -> [UInt8] {
            stFile("{\"a\":{\(body)}}", [UInt8](repeating: 0, count: data))
        }
        let okShape = #""shape":[2]"#, okOffsets = #""data_offsets":[0,8]"#, okDtype = #""dtype":"F32""#

        // Length field and framing.
        assertMalformed([], "file is 0 bytes, too short")
        assertMalformed([1, 0, 0, 0, 0, 0, 0], "file is 7 bytes, too short")
        assertMalformed(leBytes([UInt64(1000)]) + Array("{}".utf8), "header length 1000 is larger than the 2 bytes")
        assertMalformed(leBytes([UInt64(200_000_000)]) + Array("{}".utf8), "100000000-byte limit")
        assertMalformed(leBytes([UInt64.max]) + Array("{}".utf8), "limit")
        assertMalformed(leBytes([UInt64(0)]), "header is empty")
        // Not UTF-8, not JSON, not an object.
        assertMalformed(stFile(Array("{\"a".utf8) + [0xFF] + Array("\":1}".utf8)), "not valid UTF-8")
        assertMalformed(stFile(Array("{\"a".utf8) + [0xC3] + Array("\":1}".utf8)), "not valid UTF-8")
        assertMalformed(stFile("{not json}"), "not valid JSON: expected a string key at byte 1")
        assertMalformed(stFile(#"{"a":{"dtype":"F32""#), "not valid JSON")
        assertMalformed(stFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, [UInt8](repeating: 0, count: 8)),
                        "not valid JSON: expected ',' or '}' at byte 53 of the header, found the end of the header")
        assertMalformed(stFile(#"{"a":{"dtype":"F32}}"#), "not valid JSON")
        assertMalformed(stFile("{\"a\tb\":1}"), "control character")
        assertMalformed(stFile(#"{"\ud800":{}}"#), "surrogate")
        assertMalformed(stFile(#"{"\x41":{}}"#), "escape sequence")
        assertMalformed(stFile("{} trailing"), "'t' after the end of the object")
        assertMalformed(stFile("[1,2]"), "header must be a JSON object, found an array")
        assertMalformed(stFile("42"), "header must be a JSON object, found a number")
        assertMalformed(stFile("   "), "header must be a JSON object, found the end of the header")
        // Entries of the wrong shape or type.
        assertMalformed(stFile(#"{"a":5}"#), "tensor 'a' must be an object with")
        assertMalformed(entry("\(okShape),\(okOffsets)"), "tensor 'a' has no \"dtype\"")
        assertMalformed(entry("\(okDtype),\(okOffsets)"), "tensor 'a' has no \"shape\"")
        assertMalformed(entry("\(okDtype),\(okShape)"), "tensor 'a' has no \"data_offsets\"")
        assertMalformed(entry("\"dtype\":4,\(okShape),\(okOffsets)"), "\"dtype\" must be a string, found a number")
        assertMalformed(entry("\(okDtype),\(okDtype),\(okShape),\(okOffsets)"), "tensor 'a' has \"dtype\" twice")
        assertMalformed(entry("\(okDtype),\"shape\":\"2\",\(okOffsets)"), "\"shape\" must be an array of non-negative integers, found a string")
        assertMalformed(entry("\(okDtype),\"shape\":[\"2\"],\(okOffsets)"), "found a string")
        assertMalformed(entry("\(okDtype),\"shape\":[true],\(okOffsets)"), "found a boolean")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":{}"), "\"data_offsets\" must be an array of non-negative integers, found an object")
        assertMalformed(entry("\"dtype\":\"F128\",\(okShape),\(okOffsets)"), "tensor 'a' has unknown dtype 'F128' (expected one of")
        assertMalformed(entry("\"dtype\":\"f32\",\(okShape),\(okOffsets)"), "unknown dtype 'f32'")
        // Dimensions.
        assertMalformed(entry("\(okDtype),\"shape\":[-2],\(okOffsets)"), "found -2 (negative)")
        assertMalformed(entry("\(okDtype),\"shape\":[2.5],\(okOffsets)"), "found 2.5 (not an integer)")
        assertMalformed(entry("\(okDtype),\"shape\":[2.0],\(okOffsets)"), "found 2.0 (not an integer)")
        assertMalformed(entry("\(okDtype),\"shape\":[2e0],\(okOffsets)"), "found 2e0 (not an integer)")
        assertMalformed(entry("\(okDtype),\"shape\":[99999999999999999999],\(okOffsets)"), "(too large)")
        assertMalformed(entry("\(okDtype),\"shape\":[4294967296,4294967296,4294967296],\(okOffsets)"),
                        "tensor 'a' has shape 4294967296x4294967296x4294967296, too many elements")
        let rank65 = Array(repeating: "1", count: 65).joined(separator: ",")
        assertMalformed(entry("\(okDtype),\"shape\":[\(rank65)],\"data_offsets\":[0,4]"), "\"shape\" has more than 64 elements")
        // Offsets.
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[0,12]", data: 12), "needs 8 bytes for F32 2 but its data_offsets span 12")
        assertMalformed(entry("\(okDtype),\"shape\":[],\(okOffsets)"), "needs 4 bytes for F32 scalar but its data_offsets span 8")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[8,16]"), "data_offsets [8, 16] beyond the data area, which has 8 bytes")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[8,0]"), "data_offsets [8, 0]: end is before begin")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[0,8,16]"), "\"data_offsets\" has more than 2 elements")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[8]"), "must be [begin, end], found 1 number")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[]"), "must be [begin, end], found 0 numbers")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[-8,0]"), "found -8 (negative)")
        assertMalformed(entry("\(okDtype),\(okShape),\"data_offsets\":[0,18446744073709551616]"), "(too large)")
        assertMalformed(stFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                               + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, [UInt8](repeating: 0, count: 12)),
                        "tensors 'a' (data_offsets [0, 8]) and 'b' (data_offsets [4, 12]) overlap")
        // Duplicates and metadata.
        assertMalformed(stFile(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"#
                               + #""a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, [0, 0]),
                        "tensor 'a' appears twice in the header")
        assertMalformed(stFile(#"{"__metadata__":{},"__metadata__":{}}"#), "'__metadata__' twice")
        assertMalformed(stFile(#"{"__metadata__":{"k":"v","k":"w"}}"#), "'__metadata__' has key 'k' twice")
        assertMalformed(stFile(#"{"__metadata__":{"steps":5}}"#), "'__metadata__' value for 'steps' must be a string, found a number")
        assertMalformed(stFile(#"{"__metadata__":["a"]}"#), "'__metadata__' must be an object of strings, found an array")
        // Nesting in an ignored field is bounded, not a stack overflow.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        assertMalformed(entry("\(okDtype),\(okShape),\(okOffsets),\"x\":\(deep)"), "nested more than 64 levels deep")
    }

    func testMissingFileAndDirectory() {
        let missing = path("x.safetensors")
        XCTAssertThrowsError(try SafeTensors.read(path: missing)) { error in
            XCTAssertEqual((error as? TensorError)?.message,
                           "safetensors: cannot open '\(missing)' (No such file or directory)")
        }
        XCTAssertThrowsError(try SafeTensors.read(path: directory.path)) { error in
            XCTAssertEqual((error as? TensorError)?.message,
                           "safetensors: cannot read '\(directory.path)' (it is a directory)")
        }
    }

    func testTruncationsOfAValidFileThrow() throws {
        let valid = try SafeTensors.encode(tensors: [
            ("a", try Tensor(shape: [3], storage: [1, 2, 3])),
            ("b", try Tensor(shape: [2, 2], storage: [4, 5, 6, 7])),
        ], metadata: ["k": "v"])
        XCTAssertNoThrow(try SafeTensors.read(bytes: valid, source: "valid.safetensors"))
        let headerEnd = 8 + headerLength(valid)
        let cuts = [0, 1, 7, 8, 9, 8 + (headerEnd - 8) / 2, headerEnd - 1, headerEnd, headerEnd + 1,
                    headerEnd + 12, valid.count - 4, valid.count - 1]
        for cut in cuts {
            assertMalformed(Array(valid[0 ..< cut]), "", source: "cut-at-\(cut).safetensors")
        }

        // And a real file, cut in its header and in its data.
        let fixture = fixtures.appendingPathComponent("smallcnn_c1_28x28_k10_s2.weights.safetensors")
        let bytes = try [UInt8](Data(contentsOf: fixture))
        for cut in [5, 8, 700, 1327, 1328, 1336, 100_000, bytes.count - 1] {
            assertMalformed(Array(bytes[0 ..< cut]), "", source: "weights-cut-\(cut)")
        }
        assertMalformed(Array(bytes[0 ..< 100_000]), "tensor '9.weight' has data_offsets [11428, 212132] beyond the data area",
                        source: "weights-cut")
    }

    /// Random corruptions of a valid file: each either reads or throws a TensorError naming the
    /// source; none crashes or hangs.
    func testRandomCorruptionsNeverCrash() throws {
        let valid = try SafeTensors.encode(tensors: [
            ("conv.weight", try Tensor(shape: [2, 1, 2, 2], storage: (0 ..< 8).map(Float.init))),
            ("bias", try Tensor(shape: [2], storage: [0.5, -0.5])),
            ("s", Tensor(scalar: 1)),
        ], metadata: ["arch": "x"])
        let headerEnd = 8 + headerLength(valid)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let interesting = Array("{}[]\",:-.0123456789eE \\tfnu".utf8) + [0x00, 0x80, 0xFF, 0xC3]
        var read = 0, thrown = 0
        for round in 0 ..< 3000 {
            var bytes = valid
            for _ in 0 ... next(3) {
                let position = round % 10 == 0 ? next(8) : 8 + next(headerEnd - 8)
                bytes[position] = next(2) == 0 ? interesting[next(interesting.count)] : UInt8(next(256))
            }
            if next(4) == 0 { bytes.removeLast(next(bytes.count)) }
            do {
                _ = try SafeTensors.read(bytes: bytes, source: "fuzz")
                read += 1
            } catch let error as TensorError {
                XCTAssertTrue(error.message.hasPrefix("safetensors: fuzz: "), error.message)
                thrown += 1
            }
        }
        XCTAssertEqual(read + thrown, 3000)
        XCTAssertGreaterThan(thrown, 1000)
    }

    // MARK: Writing

    func testWriteRejectsBadNamesAndLeavesNoFile() throws {
        let t = try Tensor(shape: [1], storage: [1])
        let file = path("bad.safetensors")
        let cases: [([(name: String, tensor: Tensor)], String)] = [
            ([("", t)], "non-empty"),
            ([("a", t), ("b", t), ("a", t)], "got 'a' twice"),
            ([("__metadata__", t)], "'__metadata__' is reserved"),
        ]
        for (tensors, fragment) in cases {
            XCTAssertThrowsError(try SafeTensors.write(path: file, tensors: tensors, metadata: [:])) { error in
                let message = (error as? TensorError)?.message ?? "\(error)"
                XCTAssertTrue(message.hasPrefix("safetensors: \(file): ") && message.contains(fragment), message)
            }
            XCTAssertThrowsError(try SafeTensors.encode(tensors: tensors, metadata: [:])) { error in
                let message = (error as? TensorError)?.message ?? "\(error)"
                XCTAssertTrue(message.hasPrefix("safetensors: ") && message.contains(fragment), message)
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }

    func testWriteIntoMissingFolderFails() throws {
        let file = path("no/such/folder/w.safetensors")
        XCTAssertThrowsError(try SafeTensors.write(path: file, tensors: [("w", Tensor(scalar: 1))], metadata: [:])) { error in
            let message = (error as? TensorError)?.message ?? "\(error)"
            XCTAssertTrue(message.hasPrefix("safetensors: cannot write '\(file)' (No such file or directory"), message)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [])
    }

    func testWriteReplacesAnExistingFileAtomically() throws {
        let file = path("w.safetensors")
        try SafeTensors.write(path: file, tensors: [("w", try Tensor(shape: [2], storage: [1, 2]))], metadata: ["v": "1"])
        try SafeTensors.write(path: file, tensors: [("w", try Tensor(shape: [3], storage: [3, 4, 5]))], metadata: ["v": "2"])
        let back = try SafeTensors.read(path: file)
        XCTAssertEqual(back.metadata, ["v": "2"])
        XCTAssertEqual(back.tensors.first?.tensor.storage, [3, 4, 5])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["w.safetensors"])

        // A folder where the file should go: the rename fails, the temporary file is removed.
        let blocked = path("blocked.safetensors")
        try FileManager.default.createDirectory(atPath: blocked + "/inside", withIntermediateDirectories: true)
        XCTAssertThrowsError(try SafeTensors.write(path: blocked, tensors: [("w", Tensor(scalar: 1))], metadata: [:]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
                       ["blocked.safetensors", "w.safetensors"])
    }
}
