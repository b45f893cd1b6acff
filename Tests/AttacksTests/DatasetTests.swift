import Attacks
import Foundation
import Tensor
import XCTest

/// Datasets: the in-memory sources, the PNG-file loaders with their checks, batching and order.
final class DatasetTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("datasets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func path(_ name: String) -> String { dir + "/" + name }

    func mkdir(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: path(name), withIntermediateDirectories: true)
    }

    func writeText(_ text: String, _ name: String) throws {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
    }

    /// A gray or RGB image whose every value is `value` (a multiple of 1/255).
    func writeImage(_ name: String, channels: Int = 1, h: Int = 4, w: Int = 5, value: Float = 0) throws {
        try PNGImage.write(path: path(name), tensor: try Tensor.full([channels, h, w], value))
    }

    func assertError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error mentioning \(fragments)", file: file, line: line)
        } catch let error as TensorError {
            for f in fragments {
                XCTAssertTrue(error.message.contains(f), "'\(error.message)' does not mention '\(f)'", file: file, line: line)
            }
        } catch {
            XCTFail("expected a TensorError, got \(error)", file: file, line: line)
        }
    }

    func testBenchmarkDatasetMatchesTheGenerator() throws {
        let ds = try ArrayDatasets.benchmark("ct_lung", split: "val", count: 3, size: 32)
        let data = try CTLungBenchmark().split(.val, count: 3, size: 32)
        XCTAssertEqual(ds.task, .segmentation)
        XCTAssertEqual(ds.channels, 1)
        XCTAssertEqual(ds.classNames.count, 3)
        let b = try ds.batch([2, 0])
        XCTAssertEqual(b.images.shape, [2, 1, 32, 32])
        XCTAssertEqual(Array(b.images.storage[0 ..< 1024]), Array(data.images.storage[2048 ..< 3072]))
        XCTAssertEqual(b.labels?.shape, [2, 32, 32])
        XCTAssertEqual(Array(b.labels?.storage[1024...] ?? []), Array(data.labels?.storage[0 ..< 1024] ?? []))
        let e = try ArrayDatasets.benchmark("endoscopy", split: "test", count: 2, size: 32)
        guard case .boxes(let boxes) = try e.sample(1).target else { return XCTFail("expected boxes") }
        XCTAssertEqual(boxes, try EndoscopyBenchmark().split(.test, count: 2, size: 32).boxes[1])
        assertError(["unknown benchmark 'x'"]) { _ = try ArrayDatasets.benchmark("x", split: "test", count: 1, size: nil) }
        assertError(["split"]) { _ = try ArrayDatasets.benchmark("fundus", split: "dev", count: 1, size: nil) }
        assertError(["out of range", "3 samples"]) { _ = try ds.sample(3) }
    }

    func testShuffledOrderIsAPermutationFixedBySeed() throws {
        let ds = try ArrayDatasets.benchmark("fundus", split: "test", count: 20, size: 16)
        let a = ds.order(shuffleSeed: 7), b = ds.order(shuffleSeed: 7), c = ds.order(shuffleSeed: 8)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.sorted(), Array(0 ..< 20))
        XCTAssertNotEqual(a, Array(0 ..< 20))
        XCTAssertEqual(ds.order(shuffleSeed: nil), Array(0 ..< 20))
    }

    func testFolderDataset() throws {
        try mkdir("f/cat")
        try mkdir("f/ant")
        try writeImage("f/cat/1.png", value: 1)
        try writeImage("f/ant/2.png", value: 0)
        try writeImage("f/ant/1.png", value: 51 / 255)
        try writeText("not an image", "f/ant/notes.txt")
        let ds = try FileDatasets.folder(root: path("f"), channels: nil)
        XCTAssertEqual(ds.classNames, ["ant", "cat"])
        XCTAssertEqual(ds.count, 3)
        // ant/1.png, ant/2.png, cat/1.png.
        let b = try ds.batch([0, 1, 2])
        XCTAssertEqual(b.labels?.storage, [0, 0, 1])
        XCTAssertEqual(b.images.storage[0], 51 / 255)
        XCTAssertEqual(b.images.storage[40], 1)
        // RGB converted to gray on request.
        let rgb = try FileDatasets.folder(root: path("f"), channels: 3)
        XCTAssertEqual(try rgb.sample(2).image.shape, [3, 4, 5])
        assertError(["no class subfolders"]) { _ = try FileDatasets.folder(root: path("f/ant"), channels: nil) }
        assertError(["not a directory"]) { _ = try FileDatasets.folder(root: path("missing"), channels: nil) }
    }

    func testMixedChannelsAndSizes() throws {
        try mkdir("m/a")
        try writeImage("m/a/1.png", channels: 1)
        try writeImage("m/a/2.png", channels: 3)
        try writeImage("m/a/3.png", channels: 1, h: 6)
        let ds = try FileDatasets.folder(root: path("m"), channels: nil)
        assertError(["2.png' has 3 channels", "channels = 1 or 3"]) { _ = try ds.sample(1) }
        let gray = try FileDatasets.folder(root: path("m"), channels: 1)
        XCTAssertEqual(try gray.sample(1).image.shape, [1, 4, 5])
        assertError(["different sizes", "1.png' is 1x4x5", "3.png' is 1x6x5"]) { _ = try gray.batch([0, 2]) }
        XCTAssertEqual(try gray.batch([2]).images.shape, [1, 1, 6, 5])
    }

    func testCSVDataset() throws {
        try writeImage("a.png", value: 1)
        try writeImage("b.png")
        try writeText("file,label\na.png,1\n\n# a comment\n\"b.png\", 0\n", "list.csv")
        let ds = try FileDatasets.csv(path: path("list.csv"), root: nil, classNames: nil, channels: nil)
        XCTAssertEqual(ds.classNames, ["0", "1"])
        XCTAssertEqual(try ds.batch([0, 1]).labels?.storage, [1, 0])
        try writeText("a.png,dog\nb.png,cat\n", "named.csv")
        let named = try FileDatasets.csv(path: path("named.csv"), root: dir, classNames: ["cat", "dog"], channels: nil)
        XCTAssertEqual(try named.batch([0, 1]).labels?.storage, [1, 0])

        try writeText("a.png,1\nb.png\n", "short.csv")
        assertError(["short.csv:2", "expected 2 fields"]) { _ = try FileDatasets.csv(path: path("short.csv"), root: nil, classNames: nil, channels: nil) }
        try writeText("a.png,1\nc.png,0\n", "missing.csv")
        assertError(["missing.csv:2", "no such file", "c.png"]) { _ = try FileDatasets.csv(path: path("missing.csv"), root: nil, classNames: nil, channels: nil) }
        try writeText("a.png,5\n", "range.csv")
        assertError(["range.csv:1", "label 5 out of range", "0...1"]) {
            _ = try FileDatasets.csv(path: path("range.csv"), root: nil, classNames: ["x", "y"], channels: nil)
        }
        try writeText("a.png,-1\n", "negative.csv")
        assertError(["negative.csv:1", "negative"]) { _ = try FileDatasets.csv(path: path("negative.csv"), root: nil, classNames: nil, channels: nil) }
        try writeText("a.png,cow\n", "word.csv")
        assertError(["word.csv:1", "'cow'"]) { _ = try FileDatasets.csv(path: path("word.csv"), root: nil, classNames: nil, channels: nil) }
        assertError(["cannot open", "nope.csv"]) { _ = try FileDatasets.csv(path: path("nope.csv"), root: nil, classNames: nil, channels: nil) }
        try writeText("file,label\n", "empty.csv")
        assertError(["lists no images"]) { _ = try FileDatasets.csv(path: path("empty.csv"), root: nil, classNames: nil, channels: nil) }
        // A file that is not a PNG fails where it is read, by name.
        try writeText("hello", "fake.png")
        try writeText("a.png,0\nfake.png,1\n", "fake.csv")
        let fake = try FileDatasets.csv(path: path("fake.csv"), root: nil, classNames: nil, channels: nil)
        assertError(["csv:", "fake.png", "not a PNG"]) { _ = try fake.sample(1) }
    }

    func testMaskDataset() throws {
        try mkdir("img")
        try mkdir("seg")
        try writeImage("img/1.png", channels: 3)
        try writeImage("img/2.png", channels: 3)
        try PNGImage.writeLabels(path: path("seg/1.png"), labels: try Tensor(shape: [4, 5], storage: (0 ..< 20).map { Float($0 % 3) }))
        try PNGImage.writeLabels(path: path("seg/2.png"), labels: try Tensor.ones([4, 5]))
        let ds = try FileDatasets.masks(images: path("img"), masks: path("seg"), classNames: nil, channels: nil)
        XCTAssertEqual(ds.classNames.count, 3)
        XCTAssertEqual(ds.task, .segmentation)
        let b = try ds.batch([0, 1])
        XCTAssertEqual(b.labels?.shape, [2, 4, 5])
        XCTAssertEqual(b.labels?.storage[5], 2)
        // Labels beyond the classes given.
        let two = try FileDatasets.masks(images: path("img"), masks: path("seg"), classNames: ["bg", "fg"], channels: nil)
        assertError(["seg/1.png", "mask value 2", "0...1"]) { _ = try two.sample(0) }
        // A mask of another size.
        try PNGImage.writeLabels(path: path("seg/2.png"), labels: try Tensor.ones([3, 5]))
        assertError(["seg/2.png' is 3x5", "img/2.png' is 4x5"]) { _ = try ds.sample(1) }
        // A missing mask.
        try writeImage("img/3.png", channels: 3)
        assertError(["img/3.png' has no mask", "seg/3.png"]) {
            _ = try FileDatasets.masks(images: path("img"), masks: path("seg"), classNames: nil, channels: nil)
        }
    }

    func testBoxDataset() throws {
        try writeImage("a.png", h: 10, w: 20)
        try writeImage("b.png", h: 10, w: 20)
        try writeText("file,x1,y1,x2,y2,class\na.png,1,2,5,6,0\na.png,0,0,20,10,2\nb.png\n", "boxes.csv")
        let ds = try FileDatasets.boxes(path: path("boxes.csv"), root: nil, classNames: nil, channels: nil)
        XCTAssertEqual(ds.classNames.count, 3)
        let b = try ds.batch([0, 1])
        XCTAssertEqual(b.boxes, [[Box(x1: 1, y1: 2, x2: 5, y2: 6, label: 0), Box(x1: 0, y1: 0, x2: 20, y2: 10, label: 2)], []])
        XCTAssertNil(b.labels)
        try writeText("a.png,1,2,5\n", "bad.csv")
        assertError(["bad.csv:1", "expected 6 fields"]) { _ = try FileDatasets.boxes(path: path("bad.csv"), root: nil, classNames: nil, channels: nil) }
        try writeText("a.png,5,2,1,6,0\n", "flipped.csv")
        assertError(["flipped.csv:1", "x1 < x2"]) { _ = try FileDatasets.boxes(path: path("flipped.csv"), root: nil, classNames: nil, channels: nil) }
        try writeText("a.png,1,2,x,6,0\n", "nan.csv")
        assertError(["nan.csv:1", "x2 must be a number"]) { _ = try FileDatasets.boxes(path: path("nan.csv"), root: nil, classNames: nil, channels: nil) }
        try writeText("a.png,1,2,25,6,0\n", "outside.csv")
        let outside = try FileDatasets.boxes(path: path("outside.csv"), root: nil, classNames: nil, channels: nil)
        assertError(["outside.csv:1", "not inside the 20x10 image"]) { _ = try outside.sample(0) }
    }

    func testNPZDatasetInMedMNISTLayout() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Data/io/medmnist_like.npz").path
        let ds = try ArrayDatasets.npz(path: fixture, imagesKey: "train_images", labelsKey: "train_labels", scale: 255,
                                       count: 4, classNames: nil)
        XCTAssertEqual(ds.count, 4)
        XCTAssertEqual(ds.channels, 1)
        let b = try ds.batch([0, 1, 2, 3])
        XCTAssertEqual(b.images.shape, [4, 1, 28, 28])
        XCTAssertLessThanOrEqual(b.images.storage.max() ?? 2, 1)
        XCTAssertEqual(b.labels?.shape, [4])
        assertError(["has no array 'test_images'", "'train_images'"]) {
            _ = try ArrayDatasets.npz(path: fixture, imagesKey: "test_images", labelsKey: "train_labels", scale: 255, count: nil, classNames: nil)
        }
        assertError(["'val_labels' is 2x1", "for the 6 images"]) {
            _ = try ArrayDatasets.npz(path: fixture, imagesKey: "train_images", labelsKey: "val_labels", scale: 255, count: nil, classNames: nil)
        }
        assertError(["outside [0, 1.0]", "scale"]) {
            _ = try ArrayDatasets.npz(path: fixture, imagesKey: "train_images", labelsKey: "train_labels", scale: 1, count: nil, classNames: nil)
        }
    }

    func testFashionMNISTNamesThePackageWhenMissing() throws {
        assertError(["cannot find", "t10k-images-idx3-ubyte.gz"]) {
            _ = try ArrayDatasets.fashionMNIST(split: "test", count: 10, root: path("none"))
        }
        assertError(["split must be 'train' or 'test'"]) { _ = try ArrayDatasets.fashionMNIST(split: "val", count: 10, root: nil) }
    }
}
