import Foundation
import Tensor

/// `tostring(t)` as Torch7 prints tensors: values with 4 decimals (integers as integers,
/// exponent notation when magnitudes differ widely, a common `1e-03 *` scale when they are all
/// large or small), one column for rank 1, matrices for rank 2, `(i,j,.,.) =` slices above, and
/// a footer `[Tensor of size 2x3]`. Tensors of more than 1000 values show the first and last
/// three entries of each long dimension, with `...` between.
func formatTensor(_ t: Tensor) -> String {
    let footer = t.rank == 0 ? "[scalar Tensor]" : "[Tensor of size \(describeShape(t.shape))]"
    guard t.count > 0 else { return footer }
    let summarize = t.count > 1000
    // Positions shown along each dimension; nil marks the elided middle.
    let shown: [[Int?]] = t.shape.map { n in
        summarize && n > 6 ? Array(0..<3) + [nil] + Array((n - 3)..<n) : Array(0..<n)
    }
    let strides = t.strides
    let values = t.storage
    let format = ValueFormat(shownValues(values, shown: shown, strides: strides))

    var out = ""
    switch t.rank {
    case 0:
        out += format.header + format.string(values[0]) + "\n"
    case 1:
        out += format.header
        for i in shown[0] {
            out += (i.map { format.string(values[$0]) } ?? format.ellipsis) + "\n"
        }
    case 2:
        out += matrix(values, offset: 0, rows: shown[0], columns: shown[1], rowStride: strides[0], format: format, indent: "")
    default:
        var first = true
        forEachIndex(Array(shown.dropLast(2))) { leading in
            if !first { out += "\n" }
            first = false
            guard let leading else {
                out += "...\n"
                return
            }
            let offset = zip(leading, strides).map(*).reduce(0, +)
            out += "(" + leading.map { "\($0 + 1)," }.joined() + ".,.) = \n"
            out += matrix(values, offset: offset, rows: shown[t.rank - 2], columns: shown[t.rank - 1],
                          rowStride: strides[t.rank - 2], format: format, indent: " ")
        }
    }
    return out + footer
}

/// How every value of one tensor prints: Torch7's `Storage__printformat`.
private struct ValueFormat {
    let width: Int
    let scale: Double
    let style: Style
    enum Style { case integer, fixed, exponent }

    init(_ values: [Float]) {
        let finite = values.filter(\.isFinite).map { Double($0) }
        let magnitudes = finite.map(Swift.abs)
        let integers = finite.allSatisfy { $0 == $0.rounded(.up) }
        let lo = magnitudes.min() ?? 0, hi = magnitudes.max() ?? 0
        // Decimal exponents; the small slack keeps Float's 1e-4 (0.99999997e-4) at -3, as 1e-4.
        let expMin = lo != 0 ? Int(Foundation.floor(Foundation.log10(lo) + 1e-6)) + 1 : 1
        let expMax = hi != 0 ? Int(Foundation.floor(Foundation.log10(hi) + 1e-6)) + 1 : 1
        var scale = 1.0
        if integers {
            if expMax > 9 {
                (style, width) = (.exponent, 11)
            } else {
                (style, width) = (.integer, expMax + 1)
            }
        } else if expMax - expMin > 4 {
            (style, width) = (.exponent, Swift.abs(expMax) > 99 || Swift.abs(expMin) > 99 ? 12 : 11)
        } else if expMax > 5 || expMax < 0 {
            (style, width) = (.fixed, 7)
            scale = Foundation.pow(10, Double(expMax - 1))
        } else {
            (style, width) = (.fixed, expMax == 0 ? 7 : expMax + 6)
        }
        self.scale = scale
    }

    /// `1e-03 *` above the values when they share a scale.
    var header: String { scale == 1 ? "" : String(format: "%g", scale) + " *\n" }

    var ellipsis: String { pad("...") }

    func string(_ v: Float) -> String {
        guard v.isFinite else { return pad(v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf")) }
        let x = Double(v) / scale
        switch style {
        case .integer: return pad(String(Int64(x)))
        case .fixed: return String(format: "%\(width).4f", x)
        case .exponent: return String(format: "%\(width).4e", x)
        }
    }

    private func pad(_ s: String) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}

/// Torch7's `Tensor__printMatrix`: rows of values, split into `Columns a to b` blocks when
/// wider than 80 characters.
private func matrix(_ values: [Float], offset: Int, rows: [Int?], columns: [Int?], rowStride: Int,
                    format: ValueFormat, indent: String) -> String {
    var out = indent
    let perLine = max(1, (80 - indent.count) / (format.width + 1))
    var first = 0
    while first < columns.count {
        let last = min(first + perLine, columns.count) - 1
        if perLine < columns.count {
            if first != 0 { out += "\n" }
            out += "Columns \(first + 1) to \(last + 1)\n" + indent
        }
        if format.scale != 1 { out += format.header + " " + indent }
        for (r, row) in rows.enumerated() {
            for c in first...last {
                if let row, let col = columns[c] {
                    out += format.string(values[offset + row * rowStride + col])
                } else {
                    out += format.ellipsis
                }
                if c == last {
                    out += "\n"
                    if r != rows.count - 1 { out += format.scale != 1 ? indent + " " : indent }
                } else {
                    out += " "
                }
            }
        }
        first = last + 1
    }
    return out
}

/// The values that will be shown, for choosing the format.
private func shownValues(_ values: [Float], shown: [[Int?]], strides: [Int]) -> [Float] {
    if shown.allSatisfy({ !$0.contains(nil) }) { return values }
    var out: [Float] = []
    forEachIndex(shown) { index in
        if let index { out.append(values[zip(index, strides).map(*).reduce(0, +)]) }
    }
    return out
}

/// Calls `body` with every combination of the shown positions, row-major; nil once for each
/// run of combinations that pass through an elided position.
private func forEachIndex(_ shown: [[Int?]], _ body: ([Int]?) -> Void) {
    var counter = [Int](repeating: 0, count: shown.count)
    if shown.contains(where: \.isEmpty) { return }
    while true {
        let index = zip(counter, shown).map { $1[$0] }
        if index.contains(where: { $0 == nil }) {
            // Report the elision once, then skip to the next shown position of that dimension.
            body(nil)
            if let d = index.firstIndex(where: { $0 == nil }) {
                for k in (d + 1)..<counter.count { counter[k] = shown[k].count - 1 }
            }
        } else {
            body(index.compactMap { $0 })
        }
        var d = counter.count - 1
        while d >= 0 {
            counter[d] += 1
            if counter[d] < shown[d].count { break }
            counter[d] = 0
            d -= 1
        }
        if d < 0 { return }
    }
}
