import Foundation
import Tensor

/// CenterNet's training targets for boxes on a feature map `stride` times smaller than the
/// input: per class a heatmap with a Gaussian bump at each object's centre cell (peak exactly
/// 1, radius from the box size as in CenterNet's `gaussian_radius` with min_overlap 0.7, bumps
/// of the same class merged by maximum), and at each centre cell the box size and the centre's
/// offset within the cell, with a mask marking those cells. Dense maps with a mask rather than
/// CenterNet's index lists, so the loss is a few elementwise tensor ops.
public struct CenterNetTargets {
    /// (N, C, h, w), values in [0, 1].
    public let heatmap: Tensor
    /// (N, 2, h, w): width and height in cells at centre cells, 0 elsewhere.
    public let size: Tensor
    /// (N, 2, h, w): x and y offset of the centre in its cell, in [0, 1).
    public let offset: Tensor
    /// (N, 1, h, w): 1 at centre cells.
    public let mask: Tensor
    /// Objects encoded (boxes that are not empty after clipping to the image).
    public let objectCount: Int

    /// `boxes[i]` are image i's boxes in input pixels (see `Box`); `imageSize` the input's
    /// (H, W). Boxes are clipped to the image; empty ones are skipped. When two objects share a
    /// centre cell the later one's size and offset win, as in CenterNet.
    public init(boxes: [[Box]], numClasses: Int, imageSize: (height: Int, width: Int), stride: Int = Detector.stride) throws {
        guard numClasses > 0, stride > 0 else {
            throw TensorError("detection targets: num_classes and stride must be positive, got \(numClasses) and \(stride)")
        }
        guard imageSize.height > 0, imageSize.width > 0, imageSize.height % stride == 0, imageSize.width % stride == 0 else {
            throw TensorError("detection targets: image size \(imageSize.height)x\(imageSize.width) must be a positive multiple of the stride \(stride)")
        }
        let n = boxes.count, h = imageSize.height / stride, w = imageSize.width / stride
        let plane = h * w
        var heat = [Float](repeating: 0, count: n * numClasses * plane)
        var size = [Float](repeating: 0, count: n * 2 * plane)
        var offset = [Float](repeating: 0, count: n * 2 * plane)
        var mask = [Float](repeating: 0, count: n * plane)
        var objects = 0
        let s = Float(stride)
        for (i, imageBoxes) in boxes.enumerated() {
            for (j, box) in imageBoxes.enumerated() {
                guard box.label >= 0, box.label < numClasses else {
                    throw TensorError("detection targets: box \(j + 1) of image \(i + 1) has class \(box.label), expected 0..\(numClasses - 1)")
                }
                guard [box.x1, box.y1, box.x2, box.y2].allSatisfy(\.isFinite) else {
                    throw TensorError("detection targets: box \(j + 1) of image \(i + 1) has a coordinate that is not finite")
                }
                let x1 = min(max(box.x1, 0), Float(imageSize.width)) / s, x2 = min(max(box.x2, 0), Float(imageSize.width)) / s
                let y1 = min(max(box.y1, 0), Float(imageSize.height)) / s, y2 = min(max(box.y2, 0), Float(imageSize.height)) / s
                let bw = x2 - x1, bh = y2 - y1
                guard bw > 0, bh > 0 else { continue }
                let cx = (x1 + x2) / 2, cy = (y1 + y2) / 2
                let ix = min(Int(cx), w - 1), iy = min(Int(cy), h - 1)
                let radius = max(0, Int(gaussianRadius(height: bh.rounded(.up), width: bw.rounded(.up), minOverlap: 0.7)))
                heat.withUnsafeMutableBufferPointer { p in
                    guard let base = p.baseAddress else { return }
                    drawGaussian(base + (i * numClasses + box.label) * plane, h: h, w: w, x: ix, y: iy, radius: radius)
                }
                let at = iy * w + ix
                size[(i * 2) * plane + at] = bw
                size[(i * 2 + 1) * plane + at] = bh
                offset[(i * 2) * plane + at] = cx - Float(ix)
                offset[(i * 2 + 1) * plane + at] = cy - Float(iy)
                mask[i * plane + at] = 1
                objects += 1
            }
        }
        heatmap = try Tensor(shape: [n, numClasses, h, w], storage: heat)
        self.size = try Tensor(shape: [n, 2, h, w], storage: size)
        self.offset = try Tensor(shape: [n, 2, h, w], storage: offset)
        self.mask = try Tensor(shape: [n, 1, h, w], storage: mask)
        objectCount = objects
    }
}

/// CenterNet's radius for a box of `height` x `width` cells: the largest corner shift that keeps
/// the IoU with the true box above `minOverlap`, the smallest over its three cases.
func gaussianRadius(height: Float, width: Float, minOverlap: Float) -> Float {
    let hw = Double(height) * Double(width), sum = Double(height) + Double(width), m = Double(minOverlap)
    let b1 = sum, c1 = hw * (1 - m) / (1 + m)
    let r1 = (b1 + (b1 * b1 - 4 * c1).squareRoot()) / 2
    let b2 = 2 * sum, c2 = (1 - m) * hw
    let r2 = (b2 + (b2 * b2 - 16 * c2).squareRoot()) / 2
    let a3 = 4 * m, b3 = -2 * m * sum, c3 = (m - 1) * hw
    let r3 = (b3 + (b3 * b3 - 4 * a3 * c3).squareRoot()) / 2
    return Float(min(r1, r2, r3))
}

/// CenterNet's `draw_umich_gaussian`: a (2r+1)² Gaussian with sigma (2r+1)/6 and peak 1 at
/// (x, y), merged into `map` (h x w) by maximum.
func drawGaussian(_ map: UnsafeMutablePointer<Float>, h: Int, w: Int, x: Int, y: Int, radius r: Int) {
    let sigma = Double(2 * r + 1) / 6
    for dy in -r...r {
        let yy = y + dy
        guard yy >= 0, yy < h else { continue }
        for dx in -r...r {
            let xx = x + dx
            guard xx >= 0, xx < w else { continue }
            var g = Foundation.exp(-Double(dx * dx + dy * dy) / (2 * sigma * sigma))
            // CenterNet zeroes values below machine epsilon times the peak.
            if g < Double.ulpOfOne { g = 0 }
            map[yy * w + xx] = max(map[yy * w + xx], Float(g))
        }
    }
}
