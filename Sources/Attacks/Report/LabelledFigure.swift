import Foundation
import Tensor

/// A figure of attack results that reads without the code: one row per image, one column per
/// view (`AttackFigure.Column`), the columns' titles over them (grouped when several share a
/// group), under each tile the predicted class (marked ✗ when it differs from the truth) and the
/// column's captions (Var, Cos, ...), then the class legend and the perturbations' colour
/// scale in units of ε. Small images are enlarged (nearest neighbour) so a 28-pixel image
/// shows at 112 pixels.
///
/// `render()` draws it all into one picture (text in `BitmapFont`) for papers; `HTMLReport`
/// lays out the same tiles, captions and legend as a web page.
public struct LabelledFigure {
    public var columns: [AttackFigure.Column]
    public var title: String?
    /// Sentences under the figure.
    public var caption: String?
    /// Class names by label (label k is `classNames[k]`), for captions and the legend.
    public var classNames: [String]?
    /// The perturbation at which heat-map columns reach full colour (the attack's ε): adds the
    /// colour scale, labelled in units of ε.
    public var eps: Double?
    /// The first `count` images (all by default).
    public var count: Int?
    /// Enlargement of every tile; nil: the smallest that makes tiles at least `targetTileSide`.
    public var magnification: Int?
    /// Pixels between tiles.
    public var padding: Int

    public static let targetTileSide = 112
    public static let wrongColour: FigureCanvas.Colour = (0.8, 0.1, 0.1)

    public init(columns: [AttackFigure.Column], title: String? = nil, caption: String? = nil, classNames: [String]? = nil,
                eps: Double? = nil, count: Int? = nil, magnification: Int? = nil, padding: Int = 6) {
        self.columns = columns
        self.title = title
        self.caption = caption
        self.classNames = classNames
        self.eps = eps
        self.count = count
        self.magnification = magnification
        self.padding = padding
    }

    /// The grid's size once the columns are checked: rows shown, and the images' height and width.
    public struct Shape {
        public let rows: Int
        public let height: Int
        public let width: Int
        public let scale: Int
        /// Tiles' side in the picture: the image enlarged, plus the class bar of label columns.
        public var tileWidth: Int { width * scale }
        public let tileHeight: Int
    }

    /// Checks the columns against each other and the options; every error names the column.
    public func shape() throws -> Shape {
        guard let first = columns.first else { throw TensorError("figure: no columns to draw") }
        guard first.images.rank == 4 else {
            throw TensorError("figure: column 1: expected images of size (N, C, H, W), got \(describeShape(first.images.shape))")
        }
        let n = first.images.shape[0], h = first.images.shape[2], w = first.images.shape[3]
        let rows = min(count ?? n, n)
        guard rows >= 1, h >= 1, w >= 1 else {
            throw TensorError("figure: no images to draw (count \(count.map(String.init) ?? "all"), \(n) images)")
        }
        for (j, column) in columns.enumerated() {
            let s = column.images.shape
            guard s.count == 4, s[0] == n, s[2] == h, s[3] == w, s[1] == 1 || s[1] == 3 else {
                throw TensorError("figure: column \(j + 1): expected images of size (\(n), 1 or 3, \(h), \(w)) like column 1, got \(describeShape(s))")
            }
            for (name, labels) in [("labels", column.labels), ("truth", column.truth)] {
                if let labels = labels, labels.shape != [n] {
                    throw TensorError("figure: column \(j + 1): expected \(n) \(name), got size \(describeShape(labels.shape))")
                }
            }
            if column.truth != nil, column.labels == nil {
                throw TensorError("figure: column \(j + 1): 'truth' marks predicted labels, but the column has no 'labels'")
            }
            if let masks = column.masks, masks.shape != [n, h, w] {
                throw TensorError("figure: column \(j + 1): expected masks of size \(describeShape([n, h, w])), got \(describeShape(masks.shape))")
            }
            if let boxes = column.boxes, boxes.count != n {
                throw TensorError("figure: column \(j + 1): expected boxes for \(n) images, got \(boxes.count)")
            }
            if let captions = column.captions, captions.count < rows {
                throw TensorError("figure: column \(j + 1): expected a caption for each of the \(rows) images shown, got \(captions.count)")
            }
        }
        if let m = magnification, !(1...16).contains(m) { throw TensorError("figure: scale must be in 1...16, got \(m)") }
        guard (0...64).contains(padding) else { throw TensorError("figure: padding must be in 0...64, got \(padding)") }
        if let e = eps, !(e.isFinite && e > 0) { throw TensorError("figure: eps must be a positive number, got \(e)") }
        let scale = magnification ?? min(16, max(1, (Self.targetTileSide + max(h, w) - 1) / max(h, w)))
        let bar = columns.contains { $0.labels != nil } ? Self.barHeight(tileHeight: h * scale) : 0
        return Shape(rows: rows, height: h, width: w, scale: scale, tileHeight: h * scale + bar)
    }

    /// The class bar under label tiles, as `SampleSheet` draws it.
    static func barHeight(tileHeight: Int) -> Int { max(2, tileHeight / 12) }

    /// Tile (image `row`, view `column`), enlarged, with its masks, boxes and class bar drawn:
    /// (3, H, W) in [0, 1].
    public func tile(row i: Int, column j: Int, shape: Shape) throws -> Tensor {
        let column = columns[j]
        let c = column.images.shape[1], plane = shape.height * shape.width
        let image = try Tensor(shape: [1, c, shape.height, shape.width],
                               storage: Array(column.images.storage[(i * c * plane)..<((i + 1) * c * plane)]))
        let labels = try column.labels.map { try Tensor(shape: [1], storage: [$0.storage[i]]) }
        let masks = try column.masks.map { try Tensor(shape: [1, shape.height, shape.width], storage: Array($0.storage[(i * plane)..<((i + 1) * plane)])) }
        let sheet = try SampleSheet.render(images: image, labels: labels, masks: masks, boxes: column.boxes.map { [$0[i]] },
                                           columns: 1, padding: 0, scale: shape.scale)
        return try sheet.reshaped([3, sheet.shape[1], sheet.shape[2]])
    }

    /// A line under a tile; `wrong` for a prediction that differs from the truth.
    public struct Caption: Equatable {
        public let text: String
        public let wrong: Bool
    }

    public func className(_ label: Float) -> String {
        guard label.isFinite, label == label.rounded(), Swift.abs(label) < 1e9 else { return "\(label)" }
        let k = Int(label)
        if let names = classNames, names.indices.contains(k) { return names[k] }
        return "class \(k)"
    }

    /// The lines under tile (`row`, `column`): the predicted class, then the column's captions.
    public func captions(row i: Int, column j: Int) -> [Caption] {
        let column = columns[j]
        var lines: [Caption] = []
        if let labels = column.labels {
            let predicted = labels.storage[i]
            if let truth = column.truth, truth.storage[i] != predicted {
                lines.append(Caption(text: "✗ " + className(predicted), wrong: true))
            } else {
                lines.append(Caption(text: className(predicted), wrong: false))
            }
        }
        if let text = column.captions?[i], !text.isEmpty {
            lines += text.split(separator: "\n", omittingEmptySubsequences: false).map { Caption(text: String($0), wrong: false) }
        }
        return lines
    }

    /// A run of neighbouring columns under one group title.
    public struct Group: Equatable {
        public let title: String?
        public let first: Int
        public let count: Int

        public init(title: String?, first: Int, count: Int) {
            self.title = title
            self.first = first
            self.count = count
        }
    }

    /// The column groups in order (columns without a group form groups without a title); empty
    /// when no column has a group.
    public var groups: [Group] {
        guard columns.contains(where: { $0.group != nil }) else { return [] }
        var out: [Group] = []
        for (j, column) in columns.enumerated() {
            if let last = out.last, last.title == column.group, column.group != nil {
                out[out.count - 1] = Group(title: last.title, first: last.first, count: last.count + 1)
            } else {
                out.append(Group(title: column.group, first: j, count: 1))
            }
        }
        return out
    }

    /// One class of the legend, in its colour.
    public struct LegendEntry {
        public let label: Int
        public let name: String
        public let colour: FigureCanvas.Colour
    }

    /// How the classes are drawn, for the legend's heading: nil when no column shows classes.
    public var legendHeading: String? {
        var ways: [String] = []
        if columns.contains(where: { $0.labels != nil }) { ways.append("bar under the image") }
        if columns.contains(where: { $0.masks != nil }) { ways.append("mask overlay, background left clear") }
        if columns.contains(where: { $0.boxes != nil }) { ways.append("box outline") }
        return ways.isEmpty ? nil : "Class colours (" + ways.joined(separator: "; ") + ")"
    }

    /// The classes in their colours: every named class, or without names every label shown;
    /// with masks only, the background (label 0, not drawn) is left out.
    public var legend: [LegendEntry] {
        guard legendHeading != nil else { return [] }
        var labels = Set<Int>()
        for column in columns {
            for t in [column.labels, column.truth, column.masks].compactMap({ $0 }) {
                for v in t.storage where v.isFinite && v == v.rounded() && v >= 0 && v < 1e6 { labels.insert(Int(v)) }
            }
            for list in column.boxes ?? [] { for b in list where b.label >= 0 { labels.insert(b.label) } }
        }
        let count = classNames?.count ?? ((labels.max() ?? -1) + 1)
        let onlyMasks = !columns.contains { $0.labels != nil || $0.boxes != nil }
        return (0..<count).compactMap { k in
            if onlyMasks && k == 0 { return nil }
            if classNames == nil && !labels.contains(k) { return nil }
            let c = SampleSheet.palette[k % SampleSheet.palette.count]
            return LegendEntry(label: k, name: className(Float(k)), colour: (c[0], c[1], c[2]))
        }
    }

    /// The colour scale of the heat maps: a ramp (3, height, width) from −ε (blue) through 0
    /// (white) to +ε (red), drawn by `AttackFigure.heatMap` itself so it matches the tiles.
    public static func colourBar(width: Int, height: Int) throws -> Tensor {
        var ramp = [Float](repeating: 0, count: width)
        for x in 0..<width { ramp[x] = width > 1 ? 2 * Float(x) / Float(width - 1) - 1 : 0 }
        let row = try AttackFigure.heatMap(try Tensor(shape: [1, 1, 1, width], storage: ramp), scale: 1)
        var out = [Float](repeating: 0, count: 3 * height * width)
        for k in 0..<3 {
            for y in 0..<height {
                for x in 0..<width { out[(k * height + y) * width + x] = row.storage[k * width + x] }
            }
        }
        return try Tensor(shape: [3, height, width], storage: out)
    }

    /// Tick labels of the colour scale at 0, ¼, ½, ¾ and all of its width.
    public static let colourTicks = ["−ε", "−ε/2", "0", "+ε/2", "+ε"]

    /// The heading of the colour scale, with ε's value (as k/255 when it is a simple fraction of it).
    public func colourScaleHeading() -> String? {
        guard let e = eps else { return nil }
        return "Perturbation η = x_adv − x (mean over channels): blue negative, red positive, full colour at ±ε, ε = " + Self.describe(eps: e)
    }

    /// 8/255 for 0.0313..., 0.5/255, else three significant digits.
    public static func describe(eps: Double) -> String {
        let k = eps * 255
        let eighths = (k * 8).rounded()
        if eighths >= 1, Swift.abs(k * 8 - eighths) < 1e-3 * max(1, eighths) {
            let whole = eighths / 8
            return (whole == whole.rounded() ? String(Int(whole)) : String(format: "%g", whole)) + "/255"
        }
        return String(format: "%.3g", eps)
    }
}
