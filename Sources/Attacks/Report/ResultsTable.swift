import Foundation
import Tensor

/// One row of an evaluation: a method on a task, with its figures by name (fractions, not
/// percent; NaN where a figure does not apply).
public struct ResultRow: Equatable {
    public var task: String
    public var method: String
    public var values: [String: Double]

    public init(task: String, method: String, values: [String: Double]) {
        self.task = task
        self.method = method
        self.values = values
    }
}

/// The rows of an evaluation, rendered as Markdown tables (one per task), CSV and JSON.
/// Columns come in a fixed order that reads well (task metrics, then perturbation figures, then
/// costs); names the order does not know follow alphabetically.
public struct ResultsTable {
    public var rows: [ResultRow]

    public init(rows: [ResultRow]) { self.rows = rows }

    /// The order in which known figures are shown.
    public static let preferredOrder = [
        "accuracy", "fpr", "pixel_accuracy", "jaccard", "dice", "iou", "map50",
        "success_rate", "linf", "l2", "l0", "var", "cos_mean", "cos_positive", "psnr", "ssim",
        "forwards", "gradients", "seconds", "seconds_per_image",
    ]

    /// The columns of the given rows, in display order.
    public static func columns(of rows: [ResultRow]) -> [String] {
        let present = Set(rows.flatMap { $0.values.keys })
        let known = preferredOrder.filter(present.contains)
        return known + present.subtracting(known).sorted()
    }

    /// Task names in the order they first appear.
    public var tasks: [String] {
        var seen = Set<String>(), out: [String] = []
        for row in rows where seen.insert(row.task).inserted { out.append(row.task) }
        return out
    }

    /// One Markdown table per task, under a `## task` heading; `columns` chooses the figures
    /// shown and their order (those no row of a task has are left out of its table).
    public func markdown(title: String? = nil, columns chosen: [String]? = nil) -> String {
        var out = title.map { "# \($0)\n\n" } ?? ""
        for task in tasks {
            let taskRows = rows.filter { $0.task == task }
            let present = Self.columns(of: taskRows)
            let columns = chosen.map { $0.filter(present.contains) } ?? present
            out += "## \(task)\n\n"
            out += "| method | " + columns.joined(separator: " | ") + " |\n"
            out += "| --- |" + String(repeating: " ---: |", count: columns.count) + "\n"
            for row in taskRows {
                let cells = columns.map { row.values[$0].map(Self.formatCell) ?? "" }
                out += "| \(row.method) | " + cells.joined(separator: " | ") + " |\n"
            }
            out += "\n"
        }
        return out
    }

    /// A header line `task,method,<columns>` and one line per row; a missing figure is empty.
    public func csv() -> String {
        let columns = Self.columns(of: rows)
        var out = (["task", "method"] + columns).map(Self.csvField).joined(separator: ",") + "\n"
        for row in rows {
            let cells = columns.map { name -> String in
                guard let v = row.values[name], v.isFinite else { return "" }
                return Self.formatNumber(v)
            }
            out += ([Self.csvField(row.task), Self.csvField(row.method)] + cells).joined(separator: ",") + "\n"
        }
        return out
    }

    /// With `metadata` (the run's settings, name → text), `results.csv` starts with one
    /// `# name: value` line per entry and `results.json` is `{"run": {...}, "results": [rows]}`.
    public var metadata: [(String, String)] = []

    /// `# name: value` lines for the CSV (line breaks in values become spaces).
    private func csvComments() -> String {
        metadata.map { "# \($0): \($1.replacingOccurrences(of: "\n", with: " "))\n" }.joined()
    }

    /// The JSON of `rows`, inside `{"run": ..., "results": ...}` when there is metadata.
    public func json() -> String {
        guard !metadata.isEmpty else { return rowsJSON() }
        let run = metadata.map { "    \(jsonStringLiteral($0)): \(jsonStringLiteral($1))" }.joined(separator: ",\n")
        return "{\n  \"run\": {\n\(run)\n  },\n  \"results\": " + rowsJSON() + "}\n"
    }

    /// An array with one object per row: `task`, `method`, then each figure; NaN and infinities
    /// become null.
    private func rowsJSON() -> String {
        let objects = rows.map { row -> String in
            var fields = ["\"task\": \(jsonStringLiteral(row.task))", "\"method\": \(jsonStringLiteral(row.method))"]
            for name in Self.columns(of: [row]) {
                let v = row.values[name] ?? .nan
                fields.append("\(jsonStringLiteral(name)): \(v.isFinite ? Self.formatNumber(v) : "null")")
            }
            return "  {" + fields.joined(separator: ", ") + "}"
        }
        return "[\n" + objects.joined(separator: ",\n") + "\n]\n"
    }

    /// Writes `tables.md` (`markdown` when given, else the tables of `markdown(title:)`),
    /// `results.csv` and `results.json` into `directory` (created if missing), each atomically;
    /// returns the paths written.
    @discardableResult
    public func write(to directory: String, title: String? = nil, markdown text: String? = nil) throws -> [String] {
        try makeDirectory(directory)
        let files = [("tables.md", text ?? markdown(title: title)), ("results.csv", csvComments() + csv()), ("results.json", json())]
        return try files.map { name, text in
            let path = (directory as NSString).appendingPathComponent(name)
            try writeAtomically(Array(text.utf8), to: path, format: "report")
            return path
        }
    }

    // MARK: - Formatting

    /// Shortest text that reads back as the same Double.
    static func formatNumber(_ v: Double) -> String {
        if v == v.rounded(), Swift.abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    /// Four decimals, scientific notation for small values (variances), one decimal for large
    /// ones (pixel counts).
    static func formatCell(_ v: Double) -> String {
        guard v.isFinite else { return "–" }
        if v == v.rounded(), Swift.abs(v) < 1e9 { return String(Int64(v)) }
        if v != 0, Swift.abs(v) < 1e-3 { return String(format: "%.3e", v) }
        if Swift.abs(v) >= 100 { return String(format: "%.1f", v) }
        return String(format: "%.4f", v)
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

}

/// `mkdir -p`: creates `path` and any missing parents; an existing directory is fine.
func makeDirectory(_ path: String) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        guard isDirectory.boolValue else { throw TensorError("report: '\(path)' exists and is not a directory") }
        return
    }
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw TensorError("report: cannot create the directory '\(path)' (\(error.localizedDescription))")
    }
}
