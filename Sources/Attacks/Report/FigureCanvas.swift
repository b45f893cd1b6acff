import Tensor

/// An RGB picture being composed for a report figure: rectangles, images pasted at a position,
/// and text in the `BitmapFont`. Colours are (r, g, b) in [0, 1]; anything drawn outside the
/// canvas is clipped.
public struct FigureCanvas {
    public typealias Colour = (Float, Float, Float)

    public let width: Int
    public let height: Int
    private var pixels: [Float]  // three planes, as the PNG writer takes a (3, H, W) tensor

    public static let white: Colour = (1, 1, 1)
    public static let ink: Colour = (0.1, 0.1, 0.12)
    public static let muted: Colour = (0.4, 0.4, 0.45)

    public init(width: Int, height: Int, background: Colour = white) throws {
        let (total, overflow) = width.multipliedReportingOverflow(by: height)
        guard width >= 1, height >= 1, !overflow, total <= 1 << 26 else {
            throw TensorError("figure: a picture of \(width)x\(height) pixels is too large")
        }
        self.width = width
        self.height = height
        pixels = [Float](repeating: 0, count: 3 * total)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    public subscript(x: Int, y: Int) -> Colour {
        let p = y * width + x, plane = width * height
        return (pixels[p], pixels[plane + p], pixels[2 * plane + p])
    }

    @inline(__always) private mutating func put(_ x: Int, _ y: Int, _ c: Colour) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let p = y * width + x, plane = width * height
        pixels[p] = c.0
        pixels[plane + p] = c.1
        pixels[2 * plane + p] = c.2
    }

    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ colour: Colour) {
        for yy in max(0, y)..<max(max(0, y), min(height, y + h)) {
            for xx in max(0, x)..<max(max(0, x), min(width, x + w)) { put(xx, yy, colour) }
        }
    }

    /// A one-pixel outline of the rectangle.
    public mutating func frame(x: Int, y: Int, width w: Int, height h: Int, _ colour: Colour) {
        fill(x: x, y: y, width: w, height: 1, colour)
        fill(x: x, y: y + h - 1, width: w, height: 1, colour)
        fill(x: x, y: y, width: 1, height: h, colour)
        fill(x: x + w - 1, y: y, width: 1, height: h, colour)
    }

    /// Pastes an RGB or gray image (3 or 1, H, W) with its top-left corner at (x, y).
    public mutating func paste(_ image: Tensor, x: Int, y: Int) throws {
        guard image.rank == 3, image.shape[0] == 1 || image.shape[0] == 3 else {
            throw TensorError("figure: expected an image of size (1 or 3, H, W), got \(describeShape(image.shape))")
        }
        let c = image.shape[0], h = image.shape[1], w = image.shape[2], values = image.storage
        for yy in 0..<h {
            for xx in 0..<w {
                let p = yy * w + xx
                put(x + xx, y + yy, (clamp01(values[p]), clamp01(values[min(1, c - 1) * h * w + p]),
                                     clamp01(values[min(2, c - 1) * h * w + p])))
            }
        }
    }

    /// Draws one line of text with its top-left corner at (x, y), each font pixel `scale`
    /// pixels wide.
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 1, _ colour: Colour = ink) {
        var left = x
        for character in text {
            for gy in 0..<BitmapFont.glyphHeight {
                for gx in 0..<BitmapFont.glyphWidth where BitmapFont.isInked(character, x: gx, y: gy) {
                    fill(x: left + gx * scale, y: y + gy * scale, width: scale, height: scale, colour)
                }
            }
            left += BitmapFont.advance * scale
        }
    }

    /// Text centred horizontally in [x, x + width).
    public mutating func centredText(_ text: String, x: Int, width w: Int, y: Int, scale: Int = 1, _ colour: Colour = ink) {
        self.text(text, x: x + (w - BitmapFont.width(text, scale: scale)) / 2, y: y, scale: scale, colour)
    }

    /// The picture as a (3, H, W) tensor for the PNG writer.
    public func tensor() throws -> Tensor {
        try Tensor(shape: [3, height, width], storage: pixels)
    }
}
