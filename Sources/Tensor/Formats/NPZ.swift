/// NumPy's `.npz`: a zip archive of `.npy` members, as `numpy.savez` (stored) and
/// `numpy.savez_compressed` (deflated) write it. MedMNIST ships its data sets this way
/// (`train_images`, `train_labels`, `val_images`, ...).
///
/// Every member must be a `.npy` array; names come back without the `.npy` suffix, in the
/// archive's order. Directory entries are skipped. Errors name the file and the member.
public enum NPZ {
    /// Reads every array of an `.npz` file as float32.
    public static func read(path: String) throws -> [(name: String, tensor: Tensor)] {
        try read(bytes: readWholeFile(path, format: "npz"), source: path)
    }

    /// Reads an `.npz` image held in memory; `source` names it in error messages.
    public static func read(bytes: [UInt8], source: String) throws -> [(name: String, tensor: Tensor)] {
        let archive = try ZipArchive(bytes: bytes) { TensorError("npz: \(source): \($0)") }
        var arrays: [(name: String, tensor: Tensor)] = []
        var names = Set<String>()
        for entry in archive.entries where !entry.name.hasSuffix("/") {
            let data = try archive.contents(of: entry)
            let name = entry.name.hasSuffix(".npy") ? String(entry.name.dropLast(4)) : entry.name
            guard names.insert(name).inserted else {
                throw TensorError("npz: \(source): two members are both named '\(name)' once '.npy' is dropped")
            }
            let tensor = try data.withUnsafeBytes { raw -> Tensor in
                guard NPY.hasMagic(raw) else {
                    throw TensorError("npz: \(source): member '\(entry.name)' is not a .npy array "
                        + "(it starts with \(describeBytes(raw, limit: 6)))")
                }
                return try NPY.decode(raw) { TensorError("npz: \(source): member '\(entry.name)': \($0)") }
            }
            arrays.append((name, tensor))
        }
        return arrays
    }
}
