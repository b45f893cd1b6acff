import Tensor

/// `LabelledFigure` drawn as one picture for papers: the title, the column groups and titles,
/// the tiles with their captions, the class legend and the colour scale, all text in
/// `BitmapFont` (twice its size where it fits, else at its own size).
extension LabelledFigure {
    static let margin = 12
    static let sectionGap = 10
    static let swatch = 10

    /// The picture, (3, H, W) in [0, 1], on white.
    public func render() throws -> Tensor {
        let s = try shape()
        let cols = columns.count, line = BitmapFont.lineHeight
        let gridWidth = cols * s.tileWidth + (cols - 1) * padding
        let contentWidth = max(gridWidth, 360)
        let width = contentWidth + 2 * Self.margin

        // Text sizes: large where every text of a kind fits its space.
        let titles = columns.map { $0.title ?? "" }
        let headerScale = Self.fits(titles, width: s.tileWidth - 8) ? 2 : 1
        let groupList = groups
        let groupScale = groupList.allSatisfy { g in
            BitmapFont.width(g.title ?? "", scale: 2) <= g.count * (s.tileWidth + padding) - padding
        } ? 2 : 1
        var captionLines = 0, captionTexts: [String] = []
        for i in 0..<s.rows {
            for j in 0..<cols {
                let lines = captions(row: i, column: j)
                captionLines = max(captionLines, lines.count)
                captionTexts += lines.map(\.text)
            }
        }
        let captionScale = Self.fits(captionTexts, width: s.tileWidth) ? 2 : 1
        let titleLines = title.map { Self.wrap($0, width: contentWidth, scale: 2) } ?? []
        let legendEntries = legend
        let legendLines = Self.flow(legendEntries.map { Self.swatch + 4 + BitmapFont.width($0.name) }, width: contentWidth)
        let scaleLines = colourScaleHeading().map { Self.wrap($0, width: contentWidth, scale: 1) } ?? []
        let captionParagraph = caption.map { Self.wrap($0, width: contentWidth, scale: 1) } ?? []

        // Heights of the parts, top to bottom.
        let titleHeight = titleLines.isEmpty ? 0 : titleLines.count * line * 2 + Self.sectionGap
        let groupHeight = groupList.isEmpty ? 0 : line * groupScale + 4
        let headerHeight = titles.contains(where: { !$0.isEmpty }) ? line * headerScale + 2 : 0
        let rowHeight = s.tileHeight + (captionLines > 0 ? 3 + captionLines * line * captionScale : 0)
        let gridHeight = s.rows * rowHeight + (s.rows - 1) * padding
        let legendHeight = legendEntries.isEmpty ? 0 : Self.sectionGap + line + legendLines.count * (Self.swatch + 4)
        let barHeight = 14
        let scaleHeight = scaleLines.isEmpty ? 0 : Self.sectionGap + scaleLines.count * line + barHeight + 2 + line
        let paragraphHeight = captionParagraph.isEmpty ? 0 : Self.sectionGap + captionParagraph.count * line
        let height = 2 * Self.margin + titleHeight + groupHeight + headerHeight + gridHeight + legendHeight + scaleHeight + paragraphHeight

        var canvas = try FigureCanvas(width: width, height: height)
        var y = Self.margin
        let left = Self.margin + (contentWidth - gridWidth) / 2
        for text in titleLines {
            canvas.text(text, x: Self.margin, y: y, scale: 2)
            y += line * 2
        }
        if !titleLines.isEmpty { y += Self.sectionGap }
        func columnX(_ j: Int) -> Int { left + j * (s.tileWidth + padding) }
        if !groupList.isEmpty {
            for g in groupList {
                guard let text = g.title else { continue }
                let x = columnX(g.first), w = g.count * (s.tileWidth + padding) - padding
                canvas.centredText(Self.fit(text, width: w, scale: groupScale), x: x, width: w, y: y, scale: groupScale)
                canvas.fill(x: x, y: y + line * groupScale, width: w, height: 1, FigureCanvas.muted)
            }
            y += groupHeight
        }
        if headerHeight > 0 {
            for (j, text) in titles.enumerated() {
                canvas.centredText(Self.fit(text, width: s.tileWidth + padding - 2, scale: headerScale),
                                   x: columnX(j) - padding / 2, width: s.tileWidth + padding, y: y, scale: headerScale)
            }
            y += headerHeight
        }
        for i in 0..<s.rows {
            for j in 0..<cols {
                let x = columnX(j)
                try canvas.paste(try tile(row: i, column: j, shape: s), x: x, y: y)
                var ty = y + s.tileHeight + 3
                for c in captions(row: i, column: j) {
                    canvas.centredText(Self.fit(c.text, width: s.tileWidth, scale: captionScale), x: x, width: s.tileWidth, y: ty,
                                       scale: captionScale, c.wrong ? Self.wrongColour : FigureCanvas.ink)
                    ty += line * captionScale
                }
            }
            y += rowHeight + padding
        }
        y -= padding
        if let heading = legendHeading, !legendEntries.isEmpty {
            y += Self.sectionGap
            canvas.text(Self.fit(heading + ":", width: contentWidth, scale: 1), x: Self.margin, y: y)
            y += line
            var k = 0
            for count in legendLines {
                var x = Self.margin
                for entry in legendEntries[k..<(k + count)] {
                    canvas.fill(x: x, y: y, width: Self.swatch, height: Self.swatch, entry.colour)
                    canvas.frame(x: x, y: y, width: Self.swatch, height: Self.swatch, FigureCanvas.muted)
                    canvas.text(entry.name, x: x + Self.swatch + 4, y: y + 1)
                    x += Self.swatch + 4 + BitmapFont.width(entry.name) + Self.legendSpacing
                }
                k += count
                y += Self.swatch + 4
            }
        }
        if !scaleLines.isEmpty {
            y += Self.sectionGap
            for text in scaleLines {
                canvas.text(text, x: Self.margin, y: y)
                y += line
            }
            let barWidth = min(contentWidth - 20, 240), x = Self.margin + 10
            try canvas.paste(try Self.colourBar(width: barWidth, height: barHeight), x: x, y: y)
            canvas.frame(x: x - 1, y: y - 1, width: barWidth + 2, height: barHeight + 2, FigureCanvas.muted)
            y += barHeight + 2
            for (k, tick) in Self.colourTicks.enumerated() {
                let at = x + k * (barWidth - 1) / (Self.colourTicks.count - 1)
                canvas.fill(x: at, y: y - 2, width: 1, height: 3, FigureCanvas.ink)
                canvas.text(tick, x: at - BitmapFont.width(tick) / 2, y: y + 1)
            }
            y += line
        }
        if !captionParagraph.isEmpty {
            y += Self.sectionGap
            for text in captionParagraph {
                canvas.text(text, x: Self.margin, y: y, scale: 1, FigureCanvas.muted)
                y += line
            }
        }
        return try canvas.tensor()
    }

    static let legendSpacing = 12

    static func fits(_ texts: [String], width: Int) -> Bool {
        texts.allSatisfy { BitmapFont.width($0, scale: 2) <= width }
    }

    /// `text` cut to `width` pixels, ending in ".." when cut.
    static func fit(_ text: String, width: Int, scale: Int) -> String {
        guard BitmapFont.width(text, scale: scale) > width else { return text }
        let room = max(0, (width / scale + 1) / BitmapFont.advance - 2)
        return String(text.prefix(room)) + ".."
    }

    /// Words of `text` in lines no wider than `width` (a longer word is cut).
    static func wrap(_ text: String, width: Int, scale: Int) -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ") {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if BitmapFont.width(candidate, scale: scale) <= width || current.isEmpty {
                current = candidate
            } else {
                lines.append(current)
                current = String(word)
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines.map { fit($0, width: width, scale: scale) }
    }

    /// Items of the given widths flowed into lines of `width`: the count on each line.
    static func flow(_ widths: [Int], width: Int) -> [Int] {
        var lines: [Int] = [], used = 0, count = 0
        for w in widths {
            if count > 0, used + legendSpacing + w > width {
                lines.append(count)
                used = 0
                count = 0
            }
            used += (count > 0 ? legendSpacing : 0) + w
            count += 1
        }
        if count > 0 { lines.append(count) }
        return lines
    }
}
