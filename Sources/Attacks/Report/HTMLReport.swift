import Foundation
import Tensor

/// A results report as one self-contained HTML page: the tables (from the job's Markdown), then
/// the figures, every image embedded as a `data:` URI, no script and nothing fetched, so it
/// opens from a file or an e-mail anywhere. Labelled figures are laid out in HTML (titles,
/// captions and legends as text, tiles enlarged by the engine); a plain picture is embedded as
/// it is.
public struct HTMLReport {
    public enum Figure {
        /// A figure laid out from its tiles; `picture` is the path of the same figure drawn as a
        /// PNG for papers, linked under it.
        case labelled(LabelledFigure, picture: String?)
        /// A PNG file shown as it is (for instance a figure written by an earlier run).
        case picture(path: String, title: String?, caption: String?)
    }

    public var title: String?
    public var markdown: String
    public var figures: [Figure]

    public init(title: String? = nil, markdown: String, figures: [Figure] = []) {
        self.title = title
        self.markdown = markdown
        self.figures = figures
    }

    /// Writes the page to `path` atomically.
    public func write(to path: String) throws {
        try writeAtomically(Array(try html(directory: PathNames.folder(of: path)).utf8), to: path, format: "html")
    }

    /// The page; links to files are made relative to `directory`, where the page is written.
    public func html(directory: String) throws -> String {
        var usedIDs: Set<String> = ["contents", "figures"]
        // The Markdown's first top-level heading titles the page unless a title is given.
        var text = markdown
        var pageTitle = title
        if let firstLine = text.split(separator: "\n", maxSplits: 1).first, firstLine.hasPrefix("# ") {
            if pageTitle == nil || pageTitle == String(firstLine.dropFirst(2)) {
                pageTitle = String(firstLine.dropFirst(2)).trimmingCharacters(in: .whitespaces)
                text = String(text.dropFirst(firstLine.count))
            }
        }
        let heading = pageTitle ?? "smia-lua report"
        let (tablesHTML, headings) = MarkdownHTML.convert(text, usedIDs: &usedIDs)

        var figureHTML = "", figureLinks: [(String, String)] = []
        for (k, figure) in figures.enumerated() {
            let id = MarkdownHTML.uniqueID("figure-\(k + 1)", &usedIDs)
            switch figure {
            case .labelled(let f, let picture):
                figureHTML += try labelledHTML(f, number: k + 1, id: id, picture: picture, directory: directory)
                figureLinks.append((id, f.title ?? "Figure \(k + 1)"))
            case .picture(let path, let title, let caption):
                figureHTML += try pictureHTML(path: path, title: title, caption: caption, number: k + 1, id: id)
                figureLinks.append((id, title ?? PathNames.fileName(of: path)))
            }
        }

        var toc = headings.filter { $0.level == 2 }.map { "<li><a href=\"#\($0.id)\">" + MarkdownHTML.inline($0.text) + "</a></li>" }
        if !figures.isEmpty {
            let inner = figureLinks.enumerated().map { k, link in
                "<li><a href=\"#\(link.0)\">Figure \(k + 1). " + MarkdownHTML.escape(link.1) + "</a></li>"
            }
            toc.append("<li><a href=\"#figures\">Figures</a><ol>" + inner.joined() + "</ol></li>")
        }
        var page = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(MarkdownHTML.escape(heading))</title>
        <style>\(Self.style)</style>
        </head>
        <body>
        <main>
        <h1>\(MarkdownHTML.inline(heading))</h1>

        """
        if toc.count > 1 {
            page += "<nav id=\"contents\"><h2>Contents</h2><ol>" + toc.joined() + "</ol></nav>\n"
        }
        page += "<section class=\"tables\">\n" + tablesHTML + "</section>\n"
        if !figures.isEmpty {
            page += "<section id=\"figures\">\n<h2>Figures</h2>\n" + figureHTML + "</section>\n"
        }
        return page + "</main>\n</body>\n</html>\n"
    }

    static func dataURI(_ png: [UInt8]) -> String {
        "data:image/png;base64," + Data(png).base64EncodedString()
    }

    static func cssColour(_ c: FigureCanvas.Colour) -> String {
        func byte(_ v: Float) -> Int { Int((clamp01(v) * 255).rounded()) }
        return "rgb(\(byte(c.0)), \(byte(c.1)), \(byte(c.2)))"
    }

    private func labelledHTML(_ f: LabelledFigure, number: Int, id: String, picture: String?, directory: String) throws -> String {
        let s = try f.shape()
        var out = "<figure class=\"result-figure\" id=\"\(id)\">\n"
        out += "<figcaption class=\"figure-title\"><span class=\"figure-number\">Figure \(number).</span> "
            + MarkdownHTML.escape(f.title ?? "") + "</figcaption>\n"
        // A CSS grid: columns as wide as the tiles, narrower (tiles scaled down) when the page is.
        out += "<div class=\"grid\" style=\"grid-template-columns: repeat(\(f.columns.count), minmax(0, \(s.tileWidth)px))\">\n"
        for g in f.groups {
            out += "<div class=\"group\(g.title == nil ? " empty" : "")\" style=\"grid-column: span \(g.count)\">"
                + MarkdownHTML.escape(g.title ?? "") + "</div>"
        }
        if f.columns.contains(where: { $0.title != nil }) {
            out += f.columns.map { "<div class=\"column-title\">" + MarkdownHTML.escape($0.title ?? "") + "</div>" }.joined()
        }
        out += "\n"
        for i in 0..<s.rows {
            for j in f.columns.indices {
                let tile = try f.tile(row: i, column: j, shape: s)
                let alt = "\(f.columns[j].title ?? "column \(j + 1)"), image \(i + 1)"
                out += "<div class=\"cell\"><img class=\"tile\" width=\"\(tile.shape[2])\" height=\"\(tile.shape[1])\" alt=\"\(MarkdownHTML.escape(alt))\" src=\"\(Self.dataURI(try PNGImage.encode(tile)))\">"
                for c in f.captions(row: i, column: j) {
                    out += "<div class=\"cap\(c.wrong ? " wrong" : "")\">" + MarkdownHTML.escape(c.text) + "</div>"
                }
                out += "</div>"
            }
            out += "\n"
        }
        out += "</div>\n"
        let legend = f.legend
        if let heading = f.legendHeading, !legend.isEmpty {
            out += "<div class=\"legend\"><div class=\"legend-heading\">" + MarkdownHTML.escape(heading) + "</div><ul>"
            out += legend.map { e in
                "<li><span class=\"swatch\" style=\"background: \(Self.cssColour(e.colour))\"></span>" + MarkdownHTML.escape(e.name) + "</li>"
            }.joined()
            out += "</ul></div>\n"
        }
        if let heading = f.colourScaleHeading() {
            let width = 240
            out += "<div class=\"colour-scale\"><div class=\"legend-heading\">" + MarkdownHTML.escape(heading) + "</div>"
            out += "<div class=\"bar\" style=\"width: \(width)px\"><img alt=\"colour scale from −ε to +ε\" width=\"\(width)\" height=\"14\" src=\"\(Self.dataURI(try PNGImage.encode(try LabelledFigure.colourBar(width: width, height: 14))))\">"
            let ticks = LabelledFigure.colourTicks
            out += "<div class=\"ticks\">" + ticks.enumerated().map { k, t in
                "<span style=\"left: \(100 * k / (ticks.count - 1))%\">" + MarkdownHTML.escape(t) + "</span>"
            }.joined() + "</div></div></div>\n"
        }
        if let caption = f.caption {
            out += "<p class=\"figure-caption\">" + MarkdownHTML.inline(caption) + "</p>\n"
        }
        if let picture = picture {
            let link = Self.relativePath(picture, from: directory)
            out += "<p class=\"figure-file\">For papers, the same figure with its labels drawn in: <a href=\"\(MarkdownHTML.escape(link))\">"
                + MarkdownHTML.escape(link) + "</a></p>\n"
        }
        return out + "</figure>\n"
    }

    private func pictureHTML(path: String, title: String?, caption: String?, number: Int, id: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError("html: cannot read the picture '\(path)'")
        }
        let bytes = [UInt8](data)
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw TensorError("html: '\(path)' is not a PNG file")
        }
        var out = "<figure class=\"result-figure\" id=\"\(id)\">\n"
        out += "<figcaption class=\"figure-title\"><span class=\"figure-number\">Figure \(number).</span> "
            + MarkdownHTML.escape(title ?? PathNames.fileName(of: path)) + "</figcaption>\n"
        out += "<div class=\"grid-wrap\"><img class=\"picture\" alt=\"\(MarkdownHTML.escape(title ?? path))\" src=\"\(Self.dataURI(bytes))\"></div>\n"
        if let caption = caption { out += "<p class=\"figure-caption\">" + MarkdownHTML.inline(caption) + "</p>\n" }
        return out + "</figure>\n"
    }

    /// `path` relative to `directory` when it lies inside it, else as given.
    static func relativePath(_ path: String, from directory: String) -> String {
        let base = URL(fileURLWithPath: directory).standardizedFileURL.path
        let full = URL(fileURLWithPath: path).standardizedFileURL.path
        let prefix = base.hasSuffix("/") ? base : base + "/"
        return full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : path
    }

    static let style = """

    body { margin: 0; background: #f6f7f9; color: #1c1d21; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
    main { max-width: 1440px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; min-height: 100vh; box-sizing: border-box; }
    h1 { font-size: 26px; margin: 8px 0 16px; }
    h2 { font-size: 20px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #e3e5ea; }
    h3 { font-size: 16px; margin: 20px 0 6px; color: #2f3440; }
    p { margin: 6px 0 10px; max-width: 80ch; }
    code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; background: #f0f1f4; padding: 1px 4px; border-radius: 3px; }
    nav#contents { background: #f6f7f9; border: 1px solid #e3e5ea; border-radius: 6px; padding: 4px 20px 10px; margin-bottom: 16px; }
    nav#contents h2 { border: 0; margin: 8px 0 4px; font-size: 15px; }
    nav#contents ol { margin: 0; padding-left: 22px; }
    nav a { color: #2557b5; text-decoration: none; }
    .table-wrap { overflow-x: auto; margin: 6px 0 14px; }
    table.results { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 14px; }
    table.results th, table.results td { padding: 4px 10px; border-bottom: 1px solid #e3e5ea; text-align: left; white-space: nowrap; }
    table.results thead th { background: #eef0f4; border-bottom: 2px solid #c9ced8; font-weight: 600; }
    table.results tbody tr:nth-child(even) { background: #fafbfc; }
    table.results .right { text-align: right; }
    table.results .center { text-align: center; }
    figure.result-figure { margin: 24px 0 36px; padding: 16px; border: 1px solid #e3e5ea; border-radius: 8px; background: #fff; }
    .figure-title { font-weight: 600; font-size: 16px; margin-bottom: 10px; }
    .figure-number { color: #5a6070; }
    .grid-wrap { overflow-x: auto; }
    .grid { display: grid; gap: 3px 6px; justify-content: start; align-items: end; }
    .grid .group { font-size: 14px; font-weight: 600; text-align: center; border-bottom: 2px solid #9aa2b1; margin-bottom: 2px; }
    .grid .group.empty { border-bottom: 0; }
    .grid .column-title { font-size: 13px; font-weight: 600; text-align: center; line-height: 1.25; }
    .grid .cell { align-self: start; text-align: center; margin-bottom: 6px; min-width: 0; }
    img.tile { display: block; width: 100%; height: auto; box-sizing: border-box; image-rendering: pixelated; outline: 1px solid #d5d9e0; }
    img.picture { max-width: 100%; height: auto; image-rendering: pixelated; }
    .cap { font-size: 12px; line-height: 1.35; color: #2f3440; font-variant-numeric: tabular-nums; }
    .cap.wrong { color: #c0161b; font-weight: 600; }
    .legend, .colour-scale { margin-top: 12px; font-size: 13px; }
    .legend-heading { color: #5a6070; margin-bottom: 4px; }
    .legend ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 18px; }
    .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; border: 1px solid #777; }
    .bar { position: relative; margin: 2px 10px 22px; }
    .bar img { display: block; border: 1px solid #777; }
    .ticks span { position: absolute; top: 18px; transform: translateX(-50%); font-size: 12px; white-space: nowrap; }
    .figure-caption { color: #4a5060; font-size: 14px; margin-top: 12px; }
    .figure-file { color: #5a6070; font-size: 13px; }

    """
}
