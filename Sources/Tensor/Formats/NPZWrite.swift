import Foundation

/// Writing `.npz`: what `numpy.savez` writes, a zip archive of stored (uncompressed) `.npy`
/// members, here float32. `np.load` and `NPZ.read` read it back.
extension NPZ {
    /// Writes `arrays` (name without `.npy` → tensor), in order, atomically.
    public static func write(path: String, arrays: [(name: String, tensor: Tensor)]) throws {
        try writeAtomically(try encode(arrays), to: path, format: "npz")
    }

    /// The bytes `write` puts in the file.
    public static func encode(_ arrays: [(name: String, tensor: Tensor)]) throws -> [UInt8] {
        guard arrays.count < 0xFFFF else {
            throw TensorError("npz: \(arrays.count) arrays are more than a zip archive without ZIP64 holds (65534)")
        }
        var out: [UInt8] = [], directory: [UInt8] = []
        func u16(_ v: Int, _ buffer: inout [UInt8]) { buffer += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: Int, _ buffer: inout [UInt8]) { for shift in [0, 8, 16, 24] { buffer.append(UInt8((v >> shift) & 0xFF)) } }
        // 1980-01-01 00:00, the earliest DOS date: archives do not depend on the clock.
        let dosTime = 0, dosDate = (1 << 5) | 1
        for (name, tensor) in arrays {
            let data = NPY.encode(tensor)
            let fileName = Array((name + ".npy").utf8)
            guard fileName.count < 0xFFFF else { throw TensorError("npz: the array name '\(name)' is too long") }
            guard data.count < 0xFFFF_FFFF, out.count + data.count + 30 + fileName.count < 0xFFFF_FFFF else {
                throw TensorError("npz: archives of 4 GiB or more need ZIP64, which is not written; save fewer or smaller arrays")
            }
            let crc = Int(data.withUnsafeBytes { Inflate.crc32($0) })
            let offset = out.count
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(dosTime, &out); u16(dosDate, &out)
            u32(crc, &out); u32(data.count, &out); u32(data.count, &out); u16(fileName.count, &out); u16(0, &out)
            out += fileName
            out += data
            u32(0x0201_4B50, &directory); u16(20, &directory); u16(20, &directory); u16(0, &directory); u16(0, &directory)
            u16(dosTime, &directory); u16(dosDate, &directory); u32(crc, &directory); u32(data.count, &directory)
            u32(data.count, &directory); u16(fileName.count, &directory); u16(0, &directory); u16(0, &directory)
            u16(0, &directory); u16(0, &directory); u32(0, &directory); u32(offset, &directory)
            directory += fileName
        }
        let directoryOffset = out.count
        out += directory
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(arrays.count, &out); u16(arrays.count, &out)
        u32(directory.count, &out); u32(directoryOffset, &out); u16(0, &out)
        return out
    }
}
