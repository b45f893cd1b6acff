import Foundation
import Tensor
import XCTest

/// One member of a hand-made zip archive.
private struct Member {
    var name: String
    var data: [UInt8]
    var method: UInt16 = 0
    var flags: UInt16 = 0
    var crc: UInt32? = nil
    var size: UInt32? = nil
    /// Where the central directory says the member starts, when not where it is.
    var localOffset: UInt32? = nil
    /// The compressed size the central directory gives, when not the data's.
    var compressedSize: UInt32? = nil
    /// The name in the local header, when not the central directory's.
    var localName: String? = nil
}

/// A zip archive of stored members (or whatever the members claim), with its central directory.
private func zip(_ members: [Member], entryCount: UInt16? = nil, comment: [UInt8] = []) -> [UInt8] {
    var out: [UInt8] = []
    var central: [UInt8] = []
    for m in members {
        let offset = UInt32(out.count)
        let name = Array(m.name.utf8), localName = Array((m.localName ?? m.name).utf8)
        let crc = m.crc ?? ioCRC32(m.data)
        let size = m.size ?? UInt32(m.data.count)
        out += ioLE([UInt32(0x0403_4B50)]) + ioLE([UInt16(20), m.flags, m.method, 0, 0])
        out += ioLE([crc, UInt32(m.data.count), size]) + ioLE([UInt16(localName.count), 0]) + localName + m.data
        central += ioLE([UInt32(0x0201_4B50)]) + ioLE([UInt16(20), 20, m.flags, m.method, 0, 0])
        central += ioLE([crc, m.compressedSize ?? UInt32(m.data.count), size])
        central += ioLE([UInt16(name.count), 0, 0, 0, 0]) + ioLE([UInt32(0), m.localOffset ?? offset]) + name
    }
    let count = entryCount ?? UInt16(members.count)
    let end = ioLE([UInt32(0x0605_4B50)]) + ioLE([UInt16(0), 0, count, count])
        + ioLE([UInt32(central.count), UInt32(out.count)]) + ioLE([UInt16(comment.count)]) + comment
    return out + central + end
}

private func npyF32(_ values: [Float]) throws -> [UInt8] {
    NPY.encode(try Tensor(shape: [values.count], storage: values))
}

final class NPZTests: XCTestCase {
    func testStoredArchiveFromNumPySavez() throws {
        let arrays = try NPZ.read(path: ioFixturePath("stored.npz"))
        XCTAssertEqual(arrays.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(arrays[0].tensor.shape, [2, 3])
        XCTAssertEqual(arrays[0].tensor.storage, [0, 0.5, 1, 1.5, 2, 2.5])
        XCTAssertEqual(arrays[1].tensor.storage, [0, 1, 2, 255])
        XCTAssertEqual(arrays[2].tensor.shape, [2, 3])
        XCTAssertEqual(arrays[2].tensor.storage, [0, 3, 6, 9, 12, 15])  // saved in Fortran order
    }

    func testDeflatedArchiveLaidOutLikeMedMNIST() throws {
        let arrays = try NPZ.read(path: ioFixturePath("medmnist_like.npz"))
        XCTAssertEqual(arrays.map(\.name), ["train_images", "train_labels", "val_images", "val_labels"])
        let images = arrays[0].tensor, labels = arrays[1].tensor
        XCTAssertEqual(images.shape, [6, 28, 28])
        XCTAssertEqual(images.storage, (0 ..< 6 * 28 * 28).map { Float(($0 * 7) % 256) })
        XCTAssertEqual(labels.shape, [6, 1])
        XCTAssertEqual(labels.storage, (0 ..< 6).map { Float(($0 * 3) % 10) })
        XCTAssertEqual(arrays[2].tensor.shape, [2, 28, 28])
        XCTAssertEqual(arrays[3].tensor.storage, [0, 3])
    }

    func testHandMadeArchives() throws {
        let a = try npyF32([1, 2]), b = try npyF32([3])
        let arrays = try NPZ.read(bytes: zip([Member(name: "dir/", data: []), Member(name: "x.npy", data: a),
                                             Member(name: "dir/y", data: b)], comment: Array("hello".utf8)),
                                  source: "hand.npz")
        XCTAssertEqual(arrays.map(\.name), ["x", "dir/y"])
        XCTAssertEqual(arrays[1].tensor.storage, [3])
        XCTAssertEqual(try NPZ.read(bytes: zip([]), source: "empty.npz").count, 0)
    }

    func testMalformedArchivesThrowNamingTheFile() throws {
        let a = try npyF32([1, 2])
        let good = zip([Member(name: "a.npy", data: a)])
        XCTAssertNoThrow(try NPZ.read(bytes: good, source: "good.npz"))
        var badCRC = zip([Member(name: "a.npy", data: a)])
        badCRC[30 + 5 + a.count - 1] ^= 0x40  // the last data byte
        var badEnd = good
        badEnd.removeLast(3)
        let cases: [([UInt8], [String])] = [
            ([], ["too short"]),
            (a, ["not a zip archive", "'\\x93NUM"]),
            (Array(good[0 ..< good.count - 30]), ["no end-of-central-directory record"]),
            (badEnd, ["no end-of-central-directory record"]),
            (badCRC, ["member 'a.npy' fails its CRC-32 check"]),
            (zip([Member(name: "a.npy", data: a, crc: 12345)]), ["CRC-32"]),
            (zip([Member(name: "a.npy", data: a, flags: 1)]), ["'a.npy' is encrypted"]),
            (zip([Member(name: "a.npy", data: a, method: 12)]), ["compression method 12 (bzip2)"]),
            (zip([Member(name: "a.npy", data: a, size: 0xFFFF_FFFF)]), ["ZIP64"]),
            (zip([Member(name: "a.npy", data: a)], entryCount: 0xFFFF), ["ZIP64 archives"]),
            (zip([Member(name: "a.npy", data: a)], entryCount: 2), ["entry 2 of 2 is missing or damaged"]),
            (zip([Member(name: "a.npy", data: a), Member(name: "a.npy", data: a)]), ["'a.npy' appears twice"]),
            (zip([Member(name: "a.npy", data: a), Member(name: "a", data: a)]), ["both named 'a'"]),
            (zip([Member(name: "notes.txt", data: Array("hello".utf8))]), ["member 'notes.txt' is not a .npy array", "'hello'"]),
            (zip([Member(name: "a.npy", data: Array(a[0 ..< 20]))]), ["member 'a.npy': ", "header length"]),
            (zip([Member(name: "a.npy", data: a, size: 3)]), ["stored uncompressed but its sizes differ"]),
            (zip([Member(name: "a.npy", data: [1, 2, 3], method: 8, size: 100_000_000)]), ["more than deflate can produce"]),
            (zip([Member(name: "a.npy", data: [0xFF, 0xFF, 0xFF], method: 8, size: 10)]), ["deflate data is corrupt"]),
            (zip([Member(name: "a.npy", data: [0x03, 0x00], method: 8, size: 10)]), ["decompresses to 0 bytes"]),
            (zip([Member(name: "a.npy", data: a, compressedSize: UInt32(a.count + 10)), Member(name: "b.npy", data: a)]),
             ["overlaps member", "malicious"]),
            // Two members pointing at one local header: the names disagree.
            (zip([Member(name: "a.npy", data: a), Member(name: "b.npy", data: a, localOffset: 0)]),
             ["member 'b.npy': its local header at byte 0 names 'a.npy'"]),
            (zip([Member(name: "a.npy", data: a, localName: "evil.npy")]),
             ["member 'a.npy': its local header at byte 0 names 'evil.npy'", "malicious"]),
        ]
        for (n, (bytes, fragments)) in cases.enumerated() {
            assertTensorError("npz: bad\(n).npz: ", fragments) { _ = try NPZ.read(bytes: bytes, source: "bad\(n).npz") }
        }

        // A deflated member corrupted inside NumPy's own archive.
        var deflated = try ioFixtureBytes("medmnist_like.npz")
        deflated[200] ^= 0x10
        assertTensorError("npz: med.npz: member 'train_images.npy'") { _ = try NPZ.read(bytes: deflated, source: "med.npz") }
        assertTensorError("npz: cannot open 'no-such.npz'") { _ = try NPZ.read(path: "no-such.npz") }
    }

    func testRandomCorruptionsNeverCrash() throws {
        var thrown = 0
        for (n, name) in ["stored.npz", "medmnist_like.npz"].enumerated() {
            let valid = try ioFixtureBytes(name)
            let result = ioFuzz(valid, rounds: 300, seed: UInt64(300 + n), prefix: "npz: fuzz.npz: ") {
                _ = try NPZ.read(bytes: $0, source: "fuzz.npz")
            }
            XCTAssertEqual(result.read + result.thrown, 300)
            thrown += result.thrown
        }
        XCTAssertGreaterThan(thrown, 300)
    }
}
