import Foundation
import Tensor

/// A user's own data as datasets of image files, PNG or DICOM (`ImageFile`), checked when made
/// (every listed file exists, every row parses, every label is in range) and read when a sample
/// is asked for. `window` maps DICOM values to [0, 1] (`DICOM.Window`; nil: each file's own
/// window, else its bit depth's range).
///
/// - `folder`: `root/<class>/*.png|*.dcm|*.dicom`; classes are the subfolders sorted by name,
///   label = index.
/// - `csv`: rows `file,label` (paths relative to `root`, by default the CSV's folder).
/// - `masks`: `images/*.png|*.dcm|*.dicom` with a label PNG of the same name in `masks/` (for
///   `x.dcm`: `x.png` or `x.dcm.png`).
/// - `boxes`: rows `file,x1,y1,x2,y2,class`, one per box; a row with only the file name is an
///   image without boxes.
///
/// In the CSV files, blank lines and lines starting with `#` are skipped, and a first line whose
/// first field is `file`, `filename`, `image` or `path` is a header. A label is an integer, or a
/// class name when `classNames` is given. Without `classNames`, the classes are 0...max label
/// (for masks, the largest value in any mask file).
public enum FileDatasets {
    public static func folder(root: String, channels: Int?, window: DICOM.Window? = nil) throws -> Dataset {
        let op = "folder"
        let classes = try listDirectory(root, op: op).filter { isDirectory(join(root, $0)) }
        guard !classes.isEmpty else {
            throw TensorError("\(op): '\(root)' has no class subfolders (expected root/<class>/*.png or *.dcm)")
        }
        var entries: [FileSource.Entry] = []
        for (label, name) in classes.enumerated() {
            for file in try imageFiles(join(root, name), op: op) {
                entries.append(.init(image: join(join(root, name), file), target: .label(label)))
            }
        }
        guard !entries.isEmpty else {
            throw TensorError("\(op): no .png or .dcm files in the class subfolders of '\(root)' "
                + "(\(classes.joined(separator: ", ")))")
        }
        return try make(op, .classification, classes, channels, window, entries)
    }

    public static func csv(path: String, root: String?, classNames: [String]?, channels: Int?,
                           window: DICOM.Window? = nil) throws -> Dataset {
        let op = "csv"
        let base = root ?? PathNames.folder(of: path)
        var entries: [FileSource.Entry] = []
        var maxLabel = -1
        for row in try csvRows(path, op: op) {
            guard row.fields.count == 2 else {
                throw TensorError("\(op): \(row.origin): expected 2 fields (file,label), got \(row.fields.count)")
            }
            let image = try existingFile(base, row.fields[0], row: row, op: op)
            let label = try parseLabel(row.fields[1], classNames, row: row, op: op)
            maxLabel = max(maxLabel, label)
            entries.append(.init(image: image, target: .label(label), origin: "\(row.origin) ('\(image)')"))
        }
        return try make(op, .classification, classNames ?? numberedClasses(maxLabel + 1), channels, window, entries,
                        what: path)
    }

    public static func masks(images: String, masks: String, classNames: [String]?, channels: Int?,
                             window: DICOM.Window? = nil) throws -> Dataset {
        let op = "masks"
        var entries: [FileSource.Entry] = []
        var maxLabel: Float = 0
        for file in try imageFiles(images, op: op) {
            let candidates = maskNames(for: file).map { join(masks, $0) }
            guard let maskPath = candidates.first(where: isFile) else {
                throw TensorError("\(op): image '\(join(images, file))' has no mask (expected "
                    + "\(candidates.map { "'\($0)'" }.joined(separator: " or ")))")
            }
            if classNames == nil {
                maxLabel = max(maxLabel, try PNGImage.readLabels(path: maskPath).storage.max() ?? 0)
            }
            entries.append(.init(image: join(images, file), target: .mask(path: maskPath)))
        }
        guard !entries.isEmpty else { throw TensorError("\(op): no .png or .dcm files in '\(images)'") }
        return try make(op, .segmentation, classNames ?? numberedClasses(Int(maxLabel) + 1), channels, window, entries,
                        what: images)
    }

    public static func boxes(path: String, root: String?, classNames: [String]?, channels: Int?,
                             window: DICOM.Window? = nil) throws -> Dataset {
        let op = "boxes"
        let base = root ?? PathNames.folder(of: path)
        var order: [String] = []
        var boxes: [String: [Box]] = [:]
        var origins: [String: String] = [:]
        var maxLabel = -1
        for row in try csvRows(path, op: op) {
            let fields = row.fields
            let image = try existingFile(base, fields[0], row: row, op: op)
            if boxes[image] == nil {
                order.append(image)
                boxes[image] = []
                origins[image] = "\(row.origin) ('\(image)')"
            }
            if fields.count == 1 || fields.dropFirst().allSatisfy(\.isEmpty) { continue }
            guard fields.count == 6 else {
                throw TensorError("\(op): \(row.origin): expected 6 fields (file,x1,y1,x2,y2,class) or the file alone, "
                    + "got \(fields.count)")
            }
            var c: [Float] = []
            for (k, name) in ["x1", "y1", "x2", "y2"].enumerated() {
                guard let v = Float(fields[k + 1]), v.isFinite else {
                    throw TensorError("\(op): \(row.origin): \(name) must be a number, got '\(fields[k + 1])'")
                }
                c.append(v)
            }
            guard c[0] < c[2], c[1] < c[3] else {
                throw TensorError("\(op): \(row.origin): expected x1 < x2 and y1 < y2, got (\(c[0]), \(c[1]), \(c[2]), \(c[3]))")
            }
            let label = try parseLabel(fields[5], classNames, row: row, op: op)
            maxLabel = max(maxLabel, label)
            boxes[image, default: []].append(Box(x1: c[0], y1: c[1], x2: c[2], y2: c[3], label: label))
        }
        let entries = order.map { FileSource.Entry(image: $0, target: .boxes(boxes[$0] ?? []), origin: origins[$0]) }
        return try make(op, .detection, classNames ?? numberedClasses(maxLabel + 1), channels, window, entries, what: path)
    }

    // MARK: - Helpers

    private static func make(_ op: String, _ task: BenchmarkTask, _ classes: [String], _ channels: Int?,
                             _ window: DICOM.Window?, _ entries: [FileSource.Entry], what: String? = nil) throws -> Dataset {
        guard !entries.isEmpty else { throw TensorError("\(op): '\(what ?? "")' lists no images") }
        guard !classes.isEmpty else { throw TensorError("\(op): '\(what ?? "")' has no labels, so no classes") }
        let source: FileSource
        do {
            source = try FileSource(entries: entries, channels: channels, window: window)
        } catch let error as TensorError {
            throw TensorError("\(op): \(error.message)")
        }
        return Dataset(name: op, task: task, classNames: classes, channels: source.channels, source: source)
    }

    static func numberedClasses(_ k: Int) -> [String] { (0 ..< max(k, 0)).map(String.init) }

    struct Row {
        let fields: [String]
        /// "file.csv:LINE".
        let origin: String
    }

    /// The rows of a simple CSV file: comma-separated, fields trimmed of spaces and of one pair
    /// of surrounding double quotes.
    static func csvRows(_ path: String, op: String) throws -> [Row] {
        let text = try readText(path, op: op)
        var rows: [Row] = []
        for (n, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { field -> String in
                var f = field.trimmingCharacters(in: .whitespaces)
                if f.count >= 2, f.hasPrefix("\""), f.hasSuffix("\"") { f = String(f.dropFirst().dropLast()) }
                return f
            }
            if rows.isEmpty, ["file", "filename", "image", "path"].contains(fields[0].lowercased()) { continue }
            rows.append(Row(fields: fields, origin: "\(path):\(n + 1)"))
        }
        return rows
    }

    private static func parseLabel(_ field: String, _ classNames: [String]?, row: Row, op: String) throws -> Int {
        if let label = Int(field) {
            guard label >= 0 else { throw TensorError("\(op): \(row.origin): label \(label) is negative") }
            // The classes 0...label are listed.
            guard label < classIndexLimit else {
                throw TensorError("\(op): \(row.origin): label \(label) is too large (class indices are below 2^24 = \(classIndexLimit))")
            }
            if let names = classNames, label >= names.count {
                throw TensorError("\(op): \(row.origin): label \(label) out of range (expected 0...\(names.count - 1) "
                    + "for \(names.count) classes)")
            }
            return label
        }
        if let names = classNames, let k = names.firstIndex(of: field) { return k }
        let expected = classNames.map { "an integer or one of " + $0.map { "'\($0)'" }.joined(separator: ", ") }
            ?? "an integer class (give classes = {names} to use names)"
        throw TensorError("\(op): \(row.origin): label '\(field)' is not \(expected)")
    }

    private static func existingFile(_ base: String, _ name: String, row: Row, op: String) throws -> String {
        guard !name.isEmpty else { throw TensorError("\(op): \(row.origin): the file name is empty") }
        let path = name.hasPrefix("/") ? name : join(base, name)
        guard isFile(path) else { throw TensorError("\(op): \(row.origin): no such file '\(path)'") }
        return path
    }

    static func readText(_ path: String, op: String) throws -> String {
        guard isFile(path) else {
            throw TensorError("\(op): cannot open '\(path)' (\(isDirectory(path) ? "it is a directory" : "no such file"))")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError("\(op): cannot read '\(path)'")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TensorError("\(op): '\(path)' is not UTF-8 text")
        }
        return text
    }

    /// Names in a directory, sorted, hidden files left out.
    static func listDirectory(_ dir: String, op: String) throws -> [String] {
        guard isDirectory(dir) else {
            throw TensorError("\(op): '\(dir)' is not a directory\(isFile(dir) ? "" : " (no such directory)")")
        }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            throw TensorError("\(op): cannot list '\(dir)'")
        }
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The files of `dir` whose names say PNG or DICOM.
    static func imageFiles(_ dir: String, op: String) throws -> [String] {
        try listDirectory(dir, op: op).filter { ImageFile.format(ofName: $0) != nil && isFile(join(dir, $0)) }
    }

    /// The names a mask (a label PNG) of image `file` may have: the same name for a PNG image,
    /// `x.png` or `x.dcm.png` for a DICOM image `x.dcm`.
    static func maskNames(for file: String) -> [String] {
        guard ImageFile.format(ofName: file) == .dicom, let dot = file.lastIndex(of: ".") else { return [file] }
        return [String(file[..<dot]) + ".png", file + ".png"]
    }

    static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }

    static func isDirectory(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
    }

    static func isFile(_ path: String) -> Bool {
        var dir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &dir) && !dir.boolValue
    }
}
