import Attacks
import Foundation
import Tensor
import XCTest

/// The labelled figures (PNG for papers) and the HTML report.
final class LabelledFigureTests: XCTestCase {
    /// Where `text` is drawn in `picture` at `scale` in `colour` on white: every inked pixel of
    /// its glyphs (from the font table) has the colour and every other pixel of its box is white.
    func locate(_ text: String, in picture: Tensor, scale: Int, colour: FigureCanvas.Colour = FigureCanvas.ink) -> (x: Int, y: Int)? {
        let h = picture.shape[1], w = picture.shape[2], plane = h * w, v = picture.storage
        let characters = Array(text)
        let boxWidth = BitmapFont.width(text, scale: scale), boxHeight = BitmapFont.glyphHeight * scale
        guard boxWidth <= w, boxHeight <= h else { return nil }
        func pixel(_ x: Int, _ y: Int) -> (Float, Float, Float) { (v[y * w + x], v[plane + y * w + x], v[2 * plane + y * w + x]) }
        func same(_ a: (Float, Float, Float), _ b: (Float, Float, Float)) -> Bool {
            Swift.abs(a.0 - b.0) < 1e-4 && Swift.abs(a.1 - b.1) < 1e-4 && Swift.abs(a.2 - b.2) < 1e-4
        }
        for y0 in 0...(h - boxHeight) {
            search: for x0 in 0...(w - boxWidth) {
                for dy in 0..<boxHeight {
                    for dx in 0..<boxWidth {
                        let k = dx / (BitmapFont.advance * scale), gx = (dx / scale) % BitmapFont.advance, gy = dy / scale
                        let inked = gx < BitmapFont.glyphWidth && BitmapFont.isInked(characters[k], x: gx, y: gy)
                        if !same(pixel(x0 + dx, y0 + dy), inked ? colour : FigureCanvas.white) { continue search }
                    }
                }
                return (x0, y0)
            }
        }
        return nil
    }

    func gray(_ n: Int, _ size: Int, value: Float) throws -> Tensor {
        try Tensor(shape: [n, 1, size, size], storage: [Float](repeating: value, count: n * size * size))
    }

    func testEveryPrintableCharacterHasAGlyphOfFivePixels() {
        for code in 32...126 {
            let c = Character(Unicode.Scalar(UInt8(code)))
            guard let rows = BitmapFont.rows(c) else { return XCTFail("no glyph for '\(c)'") }
            XCTAssertEqual(rows.count, BitmapFont.glyphHeight, "'\(c)'")
            XCTAssertTrue(rows.allSatisfy { $0 < 32 }, "'\(c)' is wider than 5 pixels")
        }
        for c in "εαη−·×±→∞≤≥≠✓✗" { XCTAssertNotNil(BitmapFont.rows(c), "'\(c)'") }
        // 'A' is the usual 5×7 capital; an unknown character is a hollow box.
        XCTAssertEqual(BitmapFont.rows("A"), [0b01110, 0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0])
        XCTAssertTrue(BitmapFont.isInked("ж", x: 0, y: 3))
        XCTAssertFalse(BitmapFont.isInked("ж", x: 2, y: 3))
        XCTAssertEqual(BitmapFont.width("PGD", scale: 2), 34)
    }

    func testTitlesPredictionsAndCaptionsAreDrawnIntoThePicture() throws {
        let x = try gray(2, 28, value: 0.5)
        let figure = LabelledFigure(columns: [
            .init(images: x, labels: try Tensor(shape: [2], storage: [0, 1]), title: "truth"),
            .init(images: x, labels: try Tensor(shape: [2], storage: [0, 0]), truth: try Tensor(shape: [2], storage: [0, 1]),
                  title: "PGD", captions: ["Var 1e-4", "Cos 0.5"]),
        ], title: "Demo", classNames: ["cat", "dog"])
        let picture = try figure.render()
        XCTAssertNotNil(locate("PGD", in: picture, scale: 2), "column title")
        XCTAssertNotNil(locate("truth", in: picture, scale: 2), "column title")
        XCTAssertNotNil(locate("Var 1e-4", in: picture, scale: 2), "caption")
        XCTAssertNotNil(locate("dog", in: picture, scale: 2), "class name of the truth column")
        // Image 2 is predicted 'cat' against the truth 'dog': marked, in red.
        XCTAssertNotNil(locate("✗ cat", in: picture, scale: 2, colour: LabelledFigure.wrongColour))
        XCTAssertNil(locate("✗ dog", in: picture, scale: 2, colour: LabelledFigure.wrongColour))
        XCTAssertNil(locate("FGSM", in: picture, scale: 2), "a title that is not there is not found")
        // The legend names the classes.
        XCTAssertNotNil(locate("dog", in: picture, scale: 1), "legend")
    }

    func testSmallImagesAreEnlargedByNearestNeighbour() throws {
        var values = [Float](repeating: 0, count: 28 * 28)
        values[0] = 1  // one white pixel in the corner
        let figure = LabelledFigure(columns: [.init(images: try Tensor(shape: [1, 1, 28, 28], storage: values))])
        let s = try figure.shape()
        XCTAssertEqual(s.scale, 4)
        let tile = try figure.tile(row: 0, column: 0, shape: s)
        XCTAssertEqual(tile.shape, [3, 112, 112])
        XCTAssertEqual(tile.storage[3 * 112 + 3], 1)  // the corner pixel covers 4×4
        XCTAssertEqual(tile.storage[4 * 112 + 4], 0)
        XCTAssertEqual(try LabelledFigure(columns: [.init(images: try gray(1, 64, value: 0))]).shape().scale, 2)
        XCTAssertEqual(try LabelledFigure(columns: [.init(images: try gray(1, 28, value: 0))], magnification: 1).shape().scale, 1)
    }

    func testColourScaleInUnitsOfEpsAndLegendOfMaskClasses() throws {
        let x = try gray(1, 16, value: 0.5)
        var mask = [Float](repeating: 0, count: 256)
        mask[0] = 1
        mask[1] = 2
        let figure = LabelledFigure(columns: [.init(images: x, masks: try Tensor(shape: [1, 16, 16], storage: mask))],
                                    classNames: ["background", "left lung", "right lung"], eps: 8.0 / 255)
        XCTAssertTrue(figure.colourScaleHeading()?.hasSuffix("ε = 8/255") ?? false)
        XCTAssertEqual(figure.legend.map(\.name), ["left lung", "right lung"])  // the background is not drawn
        let picture = try figure.render()
        for tick in LabelledFigure.colourTicks { XCTAssertNotNil(locate(tick, in: picture, scale: 1), tick) }
        XCTAssertNotNil(locate("right lung", in: picture, scale: 1))
        XCTAssertEqual(LabelledFigure.describe(eps: 0.5 / 255), "0.5/255")
        XCTAssertEqual(LabelledFigure.describe(eps: 0.01), "0.01")
        // The bar runs from full blue through white to full red, as the heat maps.
        let bar = try LabelledFigure.colourBar(width: 5, height: 1)
        XCTAssertEqual(bar.storage, [0, 0.5, 1, 1, 1, 0, 0.5, 1, 0.5, 0, 1, 1, 1, 0.5, 0])
    }

    func testGroupsAndBadColumns() throws {
        let x = try gray(2, 4, value: 0)
        let figure = LabelledFigure(columns: [.init(images: x), .init(images: x, group: "DEV"), .init(images: x, group: "DEV"),
                                              .init(images: x, group: "SMIA")])
        XCTAssertEqual(figure.groups, [.init(title: nil, first: 0, count: 1), .init(title: "DEV", first: 1, count: 2),
                                       .init(title: "SMIA", first: 3, count: 1)])
        XCTAssertEqual(LabelledFigure(columns: [.init(images: x)]).groups, [])
        let labels = try Tensor(shape: [2], storage: [0, 1])
        for (columns, fragment) in [
            ([.init(images: x), .init(images: try gray(2, 5, value: 0))], "like column 1"),
            ([.init(images: x, truth: labels)], "has no 'labels'"),
            ([.init(images: x, captions: ["one"])], "a caption for each"),
            ([AttackFigure.Column](), "no columns"),
        ] as [([AttackFigure.Column], String)] {
            XCTAssertThrowsError(try LabelledFigure(columns: columns).render()) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
        }
    }

    func testMarkdownTablesBecomeHTMLTables() {
        var ids = Set<String>()
        let (html, headings) = MarkdownHTML.convert("""
        ## Ablation (Table 1): classification

        Lower is **stronger** for `accuracy`.

        | method | accuracy |
        | --- | ---: |
        | a<b | 0.5 |

        - one
        - two
        """, usedIDs: &ids)
        XCTAssertEqual(headings, [.init(level: 2, text: "Ablation (Table 1): classification", id: "ablation-table-1-classification")])
        XCTAssertTrue(html.contains("<th class=\"right\">accuracy</th>"), html)
        XCTAssertTrue(html.contains("<td>a&lt;b</td><td class=\"right\">0.5</td>"), html)
        XCTAssertTrue(html.contains("<strong>stronger</strong> for <code>accuracy</code>"), html)
        XCTAssertTrue(html.contains("<ul>\n<li>one</li>\n<li>two</li>\n</ul>"), html)
        // The same heading again gets a new id.
        XCTAssertEqual(MarkdownHTML.convert("## Ablation (Table 1): classification", usedIDs: &ids).headings[0].id,
                       "ablation-table-1-classification-2")
    }

    func testHTMLReportEmbedsEverything() throws {
        let x = try gray(2, 8, value: 0.25)
        let figure = LabelledFigure(columns: [.init(images: x, title: "clean"), .init(images: x, title: "SMIA", group: "iteration 4",
                                                                                         captions: ["Var 2e-4\nCos 0.9", "Var 3e-4\nCos 0.8"])],
                                    title: "Perturbations", caption: "Four images.", eps: 2.0 / 255)
        let directory = NSTemporaryDirectory() + "smia-html-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let picture = directory + "/figures/p.png"
        try FileManager.default.createDirectory(atPath: directory + "/figures", withIntermediateDirectories: true)
        try PNGImage.write(path: picture, tensor: try figure.render())
        let report = HTMLReport(markdown: "# Results\n\n| method | accuracy |\n| --- | ---: |\n| smia | 0.25 |\n",
                                figures: [.labelled(figure, picture: picture), .picture(path: picture, title: "As drawn", caption: nil)])
        try report.write(to: directory + "/report.html")
        let html = try String(contentsOfFile: directory + "/report.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<title>Results</title>"))
        XCTAssertTrue(html.contains("<td class=\"right\">0.25</td>"))
        for text in [">SMIA</div>", "iteration 4", "Var 2e-4", "Cos 0.9", "ε = 2/255", "Four images.", "href=\"figures/p.png\"", "As drawn"] {
            XCTAssertTrue(html.contains(text), text)
        }
        // Nothing to fetch: every image is a data URI, no address outside the page.
        let sources = html.components(separatedBy: "src=\"").dropFirst()
        XCTAssertEqual(sources.count, 2 * 2 + 1 + 1)  // four tiles, the colour bar, the picture
        XCTAssertTrue(sources.allSatisfy { $0.hasPrefix("data:image/png;base64,") })
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains("<script") || html.contains("@import"))
        XCTAssertThrowsError(try HTMLReport(markdown: "", figures: [.picture(path: directory + "/none.png", title: nil, caption: nil)])
            .html(directory: directory))
    }
}
