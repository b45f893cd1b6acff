import Foundation

/// The Markdown the reports write (`ResultsTable.markdown`, the main job's `tables.md`) as
/// HTML, so the HTML report shows whatever tables a job produces: headings (with ids for
/// links), paragraphs, bullet lists, pipe tables with their column alignment, and inline
/// `code` and **bold**. Anything else is shown as text, escaped.
public enum MarkdownHTML {
    /// A heading met while converting: its level, text and the id given to it.
    public struct Heading: Equatable {
        public let level: Int
        public let text: String
        public let id: String

        public init(level: Int, text: String, id: String) {
            self.level = level
            self.text = text
            self.id = id
        }
    }

    /// HTML for `markdown`, and its headings in order. `usedIDs` keeps ids unique across calls.
    public static func convert(_ markdown: String, usedIDs: inout Set<String>) -> (html: String, headings: [Heading]) {
        var out = "", headings: [Heading] = []
        var paragraph: [String] = [], list: [String] = [], table: [String] = []
        func flush() {
            if !paragraph.isEmpty {
                out += "<p>" + inline(paragraph.joined(separator: " ")) + "</p>\n"
                paragraph = []
            }
            if !list.isEmpty {
                out += "<ul>\n" + list.map { "<li>" + inline($0) + "</li>\n" }.joined() + "</ul>\n"
                list = []
            }
            if !table.isEmpty {
                out += tableHTML(table)
                table = []
            }
        }
        for raw in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty {
                flush()
            } else if let level = headingLevel(line) {
                flush()
                let text = String(line.dropFirst(level)).trimmingCharacters(in: .whitespaces)
                let id = uniqueID(slug(text), &usedIDs)
                headings.append(Heading(level: level, text: text, id: id))
                out += "<h\(level) id=\"\(id)\">" + inline(text) + "</h\(level)>\n"
            } else if line.hasPrefix("|") {
                if table.isEmpty { flush() }
                table.append(line)
            } else if line.hasPrefix("- ") || line.hasPrefix("* ") {
                if list.isEmpty { flush() }
                list.append(String(line.dropFirst(2)))
            } else if !list.isEmpty, raw.hasPrefix("  ") {
                list[list.count - 1] += " " + line  // a list item continued on the next line
            } else {
                if !table.isEmpty || !list.isEmpty { flush() }
                paragraph.append(line)
            }
        }
        flush()
        return (out, headings)
    }

    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Escaped text with `code` and **bold** spans.
    static func inline(_ text: String) -> String {
        var out = "", rest = Substring(text)
        while let start = rest.firstIndex(where: { $0 == "`" || $0 == "*" }) {
            out += escape(String(rest[..<start]))
            let marker = rest[start] == "`" ? "`" : "**"
            guard rest[start...].hasPrefix(marker),
                  let end = rest[rest.index(start, offsetBy: marker.count)...].range(of: marker) else {
                out += escape(String(rest[start]))
                rest = rest[rest.index(after: start)...]
                continue
            }
            let inner = String(rest[rest.index(start, offsetBy: marker.count)..<end.lowerBound])
            out += marker == "`" ? "<code>" + escape(inner) + "</code>" : "<strong>" + escape(inner) + "</strong>"
            rest = rest[end.upperBound...]
        }
        return out + escape(String(rest))
    }

    static func headingLevel(_ line: String) -> Int? {
        let hashes = line.prefix(while: { $0 == "#" }).count
        guard (1...6).contains(hashes), line.dropFirst(hashes).first == " " else { return nil }
        return hashes
    }

    /// Lower-case letters, digits and dashes: "Ablation (Table 1): classification" →
    /// "ablation-table-1-classification".
    static func slug(_ text: String) -> String {
        var out = "", dash = false
        for c in text.lowercased() {
            if c.isASCII, c.isLetter || c.isNumber {
                if dash, !out.isEmpty { out += "-" }
                out.append(c)
                dash = false
            } else {
                dash = true
            }
        }
        return out.isEmpty ? "section" : out
    }

    static func uniqueID(_ base: String, _ used: inout Set<String>) -> String {
        var id = base, k = 2
        while used.contains(id) {
            id = "\(base)-\(k)"
            k += 1
        }
        used.insert(id)
        return id
    }

    static func cells(_ line: String) -> [String] {
        var body = Substring(line)
        if body.hasPrefix("|") { body = body.dropFirst() }
        if body.hasSuffix("|") { body = body.dropLast() }
        return body.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// A pipe table: the header, the alignment row (`---:` right, `:---:` centre), the rows.
    static func tableHTML(_ lines: [String]) -> String {
        let header = cells(lines[0])
        var alignments = [String](repeating: "", count: header.count), body = lines.dropFirst()
        if let second = body.first {
            let marks = cells(second)
            if marks.allSatisfy({ !$0.isEmpty && $0.allSatisfy { ":-".contains($0) } }) {
                for (k, m) in marks.enumerated() where k < header.count {
                    alignments[k] = m.hasSuffix(":") ? (m.hasPrefix(":") ? "center" : "right") : ""
                }
                body = body.dropFirst()
            }
        }
        func cell(_ tag: String, _ text: String, _ k: Int) -> String {
            let align = k < alignments.count && !alignments[k].isEmpty ? " class=\"\(alignments[k])\"" : ""
            return "<\(tag)\(align)>" + inline(text) + "</\(tag)>"
        }
        var out = "<div class=\"table-wrap\"><table class=\"results\">\n<thead><tr>"
        out += header.enumerated().map { cell("th", $1, $0) }.joined() + "</tr></thead>\n<tbody>\n"
        for line in body {
            let row = cells(line)
            out += "<tr>" + (0..<header.count).map { cell("td", $0 < row.count ? row[$0] : "", $0) }.joined() + "</tr>\n"
        }
        return out + "</tbody></table></div>\n"
    }
}
