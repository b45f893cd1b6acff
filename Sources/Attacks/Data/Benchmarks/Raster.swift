/// Drawing helpers shared by the generated benchmarks: deterministic math, value noise, a
/// single-channel coverage layer with antialiased shapes, and a planar multi-channel raster with
/// compositing, blur, directional blur and noise. (Rotation is done on the geometry before
/// drawing, which is exact and keeps masks exact, rather than by resampling pixels.)
///
/// Everything here is plain IEEE arithmetic on the values a `SeededRandom` gives, with no call
/// into the platform's libm, so every machine draws the same bytes for the same seed.

import Tensor

// MARK: - Deterministic math

/// exp, sin and cos by range reduction and polynomials in Double: the platform's libm may round
/// the last bit differently between machines, these do not.
enum DetMath {
    static func exp(_ x: Float) -> Float {
        guard x.isFinite else { return x.isNaN ? x : (x > 0 ? .infinity : 0) }
        if x < -87 { return 0 }
        if x > 88 { return .infinity }
        let xd = Double(x)
        let k = (xd * 1.4426950408889634).rounded()
        let r = (xd - k * 0.6931471803691238) - k * 1.9082149292705877e-10
        var p = 2.755731922398589e-07          // 1/10!
        p = p * r + 2.7557319223985893e-06      // 1/9!
        p = p * r + 2.48015873015873e-05        // 1/8!
        p = p * r + 0.0001984126984126984       // 1/7!
        p = p * r + 0.001388888888888889        // 1/6!
        p = p * r + 0.008333333333333333        // 1/5!
        p = p * r + 0.041666666666666664        // 1/4!
        p = p * r + 0.16666666666666666         // 1/3!
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        return Float(p * Double(sign: .plus, exponent: Int(k), significand: 1))
    }

    /// (sin x, cos x); angles beyond ±1e9 are meaningless in Float and give (0, 1).
    static func sincos(_ x: Float) -> (sin: Float, cos: Float) {
        guard x.isFinite else { return (.nan, .nan) }
        let xd = Double(x)
        guard Swift.abs(xd) < 1e9 else { return (0, 1) }
        let n = (xd * 0.6366197723675814).rounded()
        // pi/2 in two parts (fdlibm's pio2_1, pio2_1t): n * first part is exact for these n.
        let r = (xd - n * 1.5707963267341256) - n * 6.077100506506192e-11
        let r2 = r * r
        var s = -7.647163731819816e-13
        s = s * r2 + 1.6059043836821613e-10
        s = s * r2 - 2.505210838544172e-08
        s = s * r2 + 2.7557319223985893e-06
        s = s * r2 - 0.0001984126984126984
        s = s * r2 + 0.008333333333333333
        s = s * r2 - 0.16666666666666666
        let sinR = r + r * r2 * s
        var c = 4.779477332387385e-14
        c = c * r2 - 1.1470745597729725e-11
        c = c * r2 + 2.08767569878681e-09
        c = c * r2 - 2.755731922398589e-07
        c = c * r2 + 2.48015873015873e-05
        c = c * r2 - 0.001388888888888889
        c = c * r2 + 0.041666666666666664
        c = c * r2 - 0.5
        let cosR = 1 + r2 * c
        switch Int(n) & 3 {
        case 0: return (Float(sinR), Float(cosR))
        case 1: return (Float(cosR), Float(-sinR))
        case 2: return (Float(-sinR), Float(-cosR))
        default: return (Float(-cosR), Float(sinR))
        }
    }

}

@inline(__always) func clamp01(_ x: Float) -> Float { x < 0 ? 0 : (x > 1 ? 1 : x) }
@inline(__always) func smoothstep(_ e0: Float, _ e1: Float, _ x: Float) -> Float {
    let t = clamp01((x - e0) / (e1 - e0))
    return t * t * (3 - 2 * t)
}
@inline(__always) func mix(_ a: Float, _ b: Float, _ t: Float) -> Float { a + (b - a) * t }

// MARK: - Random helpers

/// SplitMix64's finalizer: spreads a seed so neighbouring seeds give unrelated streams.
@inline(__always) func mixSeed(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// The seed of sample `index` of a set generated from `seed`: it depends on nothing else, so a
/// set is a prefix of any larger set from the same seed. `salt` separates the benchmarks.
func sampleSeed(_ seed: UInt64, index: Int, salt: UInt64) -> UInt64 {
    mixSeed(mixSeed(seed ^ salt) &+ UInt64(truncatingIfNeeded: index))
}

extension SeededRandom {
    /// Uniform in [a, b).
    mutating func uniform(_ a: Float, _ b: Float) -> Float { a + (b - a) * uniform() }
    /// Uniform integer in a...b.
    mutating func int(_ a: Int, _ b: Int) -> Int { a + below(b - a + 1) }
    mutating func chance(_ p: Float) -> Bool { uniform() < p }
    /// -1 or 1.
    mutating func sign() -> Float { below(2) == 0 ? -1 : 1 }
    /// An approximately standard normal value (sum of four uniforms, Irwin-Hall), cheap and
    /// free of libm; bounded by ±3.46, which sensor noise and jitter do not mind.
    mutating func gaussian() -> Float {
        (uniform() + uniform() + uniform() + uniform() - 2) * 1.7320508
    }
    /// A point uniform in the disc of radius r around (cx, cy).
    mutating func pointInDisc(_ cx: Float, _ cy: Float, _ r: Float) -> (Float, Float) {
        while true {
            let x = uniform(-1, 1), y = uniform(-1, 1)
            if x * x + y * y <= 1 { return (cx + x * r, cy + y * r) }
        }
    }
}

// MARK: - Value noise

/// Smooth lattice value noise: a hash of the integer cell corners, interpolated with smoothstep.
struct ValueNoise {
    let seed: UInt32

    init(seed: UInt64) { self.seed = UInt32(truncatingIfNeeded: mixSeed(seed)) }

    @inline(__always) private func lattice(_ x: Int32, _ y: Int32) -> Float {
        var h = (UInt32(bitPattern: x) &* 0x8DA6_B343) ^ (UInt32(bitPattern: y) &* 0xD816_3841) ^ (seed &* 0xCB1A_B31F)
        h ^= h >> 15
        h = h &* 0x2C1B_3C6D
        h ^= h >> 12
        h = h &* 0x297A_2D39
        h ^= h >> 15
        return Float(h >> 8) * (1.0 / 16_777_216.0)
    }

    /// In [0, 1).
    @inline(__always) func sample(_ x: Float, _ y: Float) -> Float {
        let fx = x.rounded(.down), fy = y.rounded(.down)
        let ix = Int32(truncatingIfNeeded: Int(fx)), iy = Int32(truncatingIfNeeded: Int(fy))
        var tx = x - fx, ty = y - fy
        tx = tx * tx * (3 - 2 * tx)
        ty = ty * ty * (3 - 2 * ty)
        let a = lattice(ix, iy), b = lattice(ix &+ 1, iy)
        let c = lattice(ix, iy &+ 1), d = lattice(ix &+ 1, iy &+ 1)
        return mix(mix(a, b, tx), mix(c, d, tx), ty)
    }

    /// Octaves of noise, each twice the frequency and `persistence` times the amplitude of the
    /// last, centred on 0 and scaled into about [-1, 1].
    func fractal(_ x: Float, _ y: Float, octaves: Int, persistence: Float = 0.5) -> Float {
        var total: Float = 0, amplitude: Float = 1, norm: Float = 0, f: Float = 1
        for o in 0..<octaves {
            // Offset each octave so the lattices do not line up at the origin.
            let shift = Float(o) * 17.31
            total += amplitude * (sample(x * f + shift, y * f - shift) * 2 - 1)
            norm += amplitude
            amplitude *= persistence
            f *= 2
        }
        return total / norm
    }

    /// A width x height field of fractal noise with `cells` lattice cells across the width at
    /// the lowest octave, in about [-1, 1].
    func field(width: Int, height: Int, cells: Float, octaves: Int, persistence: Float = 0.5) -> [Float] {
        var out = [Float](repeating: 0, count: width * height)
        let scale = cells / Float(width)
        for y in 0..<height {
            for x in 0..<width {
                out[y * width + x] = fractal(Float(x) * scale, Float(y) * scale, octaves: octaves, persistence: persistence)
            }
        }
        return out
    }
}

// MARK: - Coverage layer

/// A single-channel field, usually the coverage (0...1) of shapes drawn into it. Shapes combine
/// by maximum, so overlapping parts of one structure (the segments of a polyline) do not darken
/// twice; `add` sums instead. Pixel (x, y) covers [x, x+1) x [y, y+1); its centre is x + 0.5.
struct Layer {
    let width: Int, height: Int
    var values: [Float]

    enum Combine { case max, add }

    init(width: Int, height: Int, fill: Float = 0) {
        self.width = width
        self.height = height
        values = [Float](repeating: fill, count: width * height)
    }

    subscript(x: Int, y: Int) -> Float {
        get { values[y * width + x] }
        set { values[y * width + x] = newValue }
    }

    /// Pixel rows and columns that a shape within `r` of (cx, cy) can touch.
    @inline(__always) private func span(_ cx: Float, _ cy: Float, _ rx: Float, _ ry: Float) -> (ClosedRange<Int>, ClosedRange<Int>)? {
        guard cx.isFinite, cy.isFinite, rx.isFinite, ry.isFinite else { return nil }
        let x0 = max(0, Int((cx - rx - 1).rounded(.down))), x1 = min(width - 1, Int((cx + rx + 1).rounded(.up)))
        let y0 = max(0, Int((cy - ry - 1).rounded(.down))), y1 = min(height - 1, Int((cy + ry + 1).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return nil }
        return (x0...x1, y0...y1)
    }

    @inline(__always) private mutating func put(_ i: Int, _ v: Float, _ combine: Combine) {
        switch combine {
        case .max: if v > values[i] { values[i] = v }
        case .add: values[i] += v
        }
    }

    /// A disc of radius r; `edge` is the width in pixels of the antialiasing ramp (1 for a crisp
    /// edge, more for a soft one). Radii under half the edge fade in amplitude instead of size,
    /// so thin and tiny shapes keep the right total ink.
    mutating func disc(_ cx: Float, _ cy: Float, _ r: Float, edge: Float = 1, value: Float = 1, combine: Combine = .max) {
        let e = max(edge, 1e-3)
        let rr = max(r, 0.5 * e)
        let fade = min(1, r / (0.5 * e)) * min(1, r / (0.5 * e))
        guard let (xs, ys) = span(cx, cy, rr + e, rr + e) else { return }
        for y in ys {
            let dy = Float(y) + 0.5 - cy
            for x in xs {
                let dx = Float(x) + 0.5 - cx
                let d = (dx * dx + dy * dy).squareRoot()
                let c = clamp01((rr - d) / e + 0.5)
                if c > 0 { put(y * width + x, c * fade * value, combine) }
            }
        }
    }

    /// An ellipse with semi-axes rx, ry rotated by `angle` (radians, clockwise on screen).
    mutating func ellipse(_ cx: Float, _ cy: Float, _ rx: Float, _ ry: Float, angle: Float = 0,
                          edge: Float = 1, value: Float = 1, combine: Combine = .max) {
        let e = max(edge, 1e-3)
        let ax = max(rx, 0.5 * e), ay = max(ry, 0.5 * e)
        let fade = min(1, rx / (0.5 * e)) * min(1, ry / (0.5 * e))
        let (s, c) = DetMath.sincos(angle)
        let reach = max(ax, ay) + e
        guard let (xs, ys) = span(cx, cy, reach, reach) else { return }
        for y in ys {
            let dy = Float(y) + 0.5 - cy
            for x in xs {
                let dx = Float(x) + 0.5 - cx
                let u = dx * c + dy * s, v = -dx * s + dy * c
                let qu = u / ax, qv = v / ay
                let q = (qu * qu + qv * qv).squareRoot()
                // Signed distance to the boundary to first order: (q - 1) / |grad q|.
                let gu = qu / ax, gv = qv / ay
                let g = (gu * gu + gv * gv).squareRoot()
                let d = q > 1e-6 && g > 1e-9 ? (q - 1) * q / g : -min(ax, ay)
                let cov = clamp01(0.5 - d / e)
                if cov > 0 { put(y * width + x, cov * fade * value, combine) }
            }
        }
    }

    /// A segment with round caps whose radius goes from r0 to r1 along it.
    mutating func capsule(_ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float, _ r0: Float, _ r1: Float,
                          edge: Float = 1, value: Float = 1, combine: Combine = .max) {
        let e = max(edge, 1e-3)
        let reach = max(r0, r1, 0.5 * e) + e
        let minX = min(x0, x1), maxX = max(x0, x1), minY = min(y0, y1), maxY = max(y0, y1)
        guard let (xs, ys) = span((minX + maxX) / 2, (minY + maxY) / 2, (maxX - minX) / 2 + reach, (maxY - minY) / 2 + reach) else { return }
        let vx = x1 - x0, vy = y1 - y0
        let len2 = vx * vx + vy * vy
        for y in ys {
            let py = Float(y) + 0.5 - y0
            for x in xs {
                let px = Float(x) + 0.5 - x0
                let t = len2 > 0 ? clamp01((px * vx + py * vy) / len2) : 0
                let ex = px - t * vx, ey = py - t * vy
                let d = (ex * ex + ey * ey).squareRoot()
                let r = r0 + (r1 - r0) * t
                let rr = max(r, 0.5 * e)
                let fade = min(1, r / (0.5 * e))
                let cov = clamp01((rr - d) / e + 0.5) * fade
                if cov > 0 { put(y * width + x, cov * value, combine) }
            }
        }
    }

    /// Segments through the points with radii interpolated per point, combined by maximum (so
    /// joints do not double), then merged into this layer with `combine`.
    mutating func polyline(_ points: [(Float, Float)], radii: [Float], edge: Float = 1, value: Float = 1, combine: Combine = .max) {
        guard points.count >= 2, radii.count == points.count else {
            if let p = points.first, let r = radii.first { disc(p.0, p.1, r, edge: edge, value: value, combine: combine) }
            return
        }
        if combine == .max {
            for i in 1..<points.count {
                capsule(points[i - 1].0, points[i - 1].1, points[i].0, points[i].1, radii[i - 1], radii[i], edge: edge, value: value)
            }
        } else {
            var own = Layer(width: width, height: height)
            own.polyline(points, radii: radii, edge: edge, value: value)
            for i in 0..<values.count { values[i] += own.values[i] }
        }
    }

    /// An anisotropic Gaussian bump, `value` at the centre, axes sx, sy (standard deviations)
    /// rotated by `angle`; cut at 3 deviations.
    mutating func gaussian(_ cx: Float, _ cy: Float, _ sx: Float, _ sy: Float, angle: Float = 0,
                           value: Float = 1, combine: Combine = .max) {
        let ax = max(sx, 0.3), ay = max(sy, 0.3)
        let (s, c) = DetMath.sincos(angle)
        let reach = 3 * max(ax, ay)
        guard let (xs, ys) = span(cx, cy, reach, reach) else { return }
        for y in ys {
            let dy = Float(y) + 0.5 - cy
            for x in xs {
                let dx = Float(x) + 0.5 - cx
                let u = (dx * c + dy * s) / ax, v = (-dx * s + dy * c) / ay
                let q = u * u + v * v
                if q < 9 { put(y * width + x, value * DetMath.exp(-0.5 * q), combine) }
            }
        }
    }

    /// Multiplies this layer by another (an intersection of coverages).
    mutating func multiply(_ other: Layer) { for i in 0..<values.count { values[i] *= other.values[i] } }

    /// The pixel box (x1, y1, x2, y2), ends exclusive, of the values at or above `threshold`;
    /// nil when there are none.
    func bounds(threshold: Float) -> (Int, Int, Int, Int)? {
        var x1 = width, y1 = height, x2 = -1, y2 = -1
        for y in 0..<height {
            for x in 0..<width where values[y * width + x] >= threshold {
                x1 = min(x1, x); x2 = max(x2, x)
                y1 = min(y1, y); y2 = max(y2, y)
            }
        }
        return x2 < 0 ? nil : (x1, y1, x2 + 1, y2 + 1)
    }

    /// Gaussian blur of the field (edges clamped).
    mutating func blur(sigma: Float) {
        blurPlane(&values, offset: 0, width: width, height: height, sigma: sigma)
    }
}

// MARK: - Blob shapes

/// A closed shape: an ellipse whose radius varies with the angle by a few harmonics.
struct BlobShape {
    var cx: Float, cy: Float, rx: Float, ry: Float
    var cosA: Float = 1, sinA: Float = 0
    /// (a_k, b_k) for k = 2, 3, ...: radius factor 1 + sum a_k cos kθ + b_k sin kθ.
    var harmonics: [(Float, Float)] = []

    init(cx: Float, cy: Float, rx: Float, ry: Float, angle: Float = 0, harmonics: [(Float, Float)] = []) {
        self.cx = cx
        self.cy = cy
        self.rx = rx
        self.ry = ry
        (sinA, cosA) = DetMath.sincos(angle)
        self.harmonics = harmonics
    }

    /// Approximate signed distance in pixels (negative inside).
    @inline(__always) func distance(_ x: Float, _ y: Float) -> Float {
        let dx = x - cx, dy = y - cy
        let u = (dx * cosA + dy * sinA) / rx, v = (-dx * sinA + dy * cosA) / ry
        let q = (u * u + v * v).squareRoot()
        guard q > 1e-6 else { return -min(rx, ry) }
        let c1 = u / q, s1 = v / q
        var factor: Float = 1
        // cos kθ, sin kθ by the angle-addition recurrence from k = 1.
        var ck = c1, sk = s1
        for (a, b) in harmonics {
            (ck, sk) = (ck * c1 - sk * s1, sk * c1 + ck * s1)
            factor += a * ck + b * sk
        }
        // The ellipse's radius in this direction, to turn normalized units into pixels.
        let radius = 1 / ((c1 / rx) * (c1 / rx) + (s1 / ry) * (s1 / ry)).squareRoot()
        return (q - factor) * radius
    }

    /// Random harmonics k = 2...count+1, amplitude falling as 1/k.
    static func harmonics(_ rng: inout SeededRandom, _ amplitude: Float, count: Int = 3) -> [(Float, Float)] {
        (0..<count).map { k in
            let a = amplitude / Float(k + 1)
            return (rng.uniform(-a, a), rng.uniform(-a, a))
        }
    }

    /// The largest distance from the centre the shape can reach.
    var reach: Float { max(rx, ry) * (1 + harmonics.reduce(0) { $0 + Swift.abs($1.0) + Swift.abs($1.1) }) }
}

extension Layer {
    /// A blob shape, antialiased over `edge` pixels.
    mutating func blob(_ shape: BlobShape, edge: Float = 1, value: Float = 1, combine: Combine = .max) {
        let e = max(edge, 1e-3)
        let reach = shape.reach + e + 1
        let x0 = max(0, Int((shape.cx - reach).rounded(.down))), x1 = min(width - 1, Int((shape.cx + reach).rounded(.up)))
        let y0 = max(0, Int((shape.cy - reach).rounded(.down))), y1 = min(height - 1, Int((shape.cy + reach).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 {
                let cov = clamp01(0.5 - shape.distance(Float(x) + 0.5, Float(y) + 0.5) / e)
                guard cov > 0 else { continue }
                let i = y * width + x
                switch combine {
                case .max: values[i] = max(values[i], cov * value)
                case .add: values[i] += cov * value
                }
            }
        }
    }

    /// A circle outline of radius r and line width w.
    mutating func ring(_ cx: Float, _ cy: Float, _ r: Float, width w: Float, value: Float = 1) {
        let half = max(w, 1e-3) / 2
        let hr = max(half, 0.5)
        let fade = min(1, half / 0.5)
        let reach = r + hr + 1
        let x0 = max(0, Int((cx - reach).rounded(.down))), x1 = min(width - 1, Int((cx + reach).rounded(.up)))
        let y0 = max(0, Int((cy - reach).rounded(.down))), y1 = min(height - 1, Int((cy + reach).rounded(.up)))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            let dy = Float(y) + 0.5 - cy
            for x in x0...x1 {
                let dx = Float(x) + 0.5 - cx
                let d = Swift.abs((dx * dx + dy * dy).squareRoot() - r)
                let cov = clamp01(hr - d + 0.5) * fade * value
                if cov > values[y * width + x] { values[y * width + x] = cov }
            }
        }
    }
}


// MARK: - Raster

/// A channels x height x width image in planar (CHW) order, values nominally in [0, 1].
struct Raster {
    let channels: Int, width: Int, height: Int
    var pixels: [Float]

    init(channels: Int, width: Int, height: Int, color: [Float]) {
        self.channels = channels
        self.width = width
        self.height = height
        pixels = [Float](repeating: 0, count: channels * width * height)
        let plane = width * height
        for c in 0..<channels {
            let v = c < color.count ? color[c] : 0
            for i in 0..<plane { pixels[c * plane + i] = v }
        }
    }

    var plane: Int { width * height }

    /// Paints `color` over the image where the layer covers it, at `opacity`.
    mutating func blend(_ layer: Layer, color: [Float], opacity: Float = 1) {
        let n = plane
        for c in 0..<channels {
            let target = color[min(c, color.count - 1)]
            let base = c * n
            for i in 0..<n {
                let a = layer.values[i] * opacity
                if a != 0 { pixels[base + i] += (target - pixels[base + i]) * a }
            }
        }
    }

    /// Paints a per-pixel colour field (planar, same size) where the layer covers it.
    mutating func blend(_ layer: Layer, image: Raster, opacity: Float = 1) {
        let n = plane
        for c in 0..<channels {
            let base = c * n
            for i in 0..<n {
                let a = layer.values[i] * opacity
                if a != 0 { pixels[base + i] += (image.pixels[base + i] - pixels[base + i]) * a }
            }
        }
    }

    /// Scales each channel c by mix(1, factors[c], coverage): darkening or tinting that keeps
    /// the shading underneath.
    mutating func multiply(_ layer: Layer, by factors: [Float]) {
        let n = plane
        for c in 0..<channels {
            let f = factors[min(c, factors.count - 1)] - 1
            let base = c * n
            for i in 0..<n {
                let a = layer.values[i]
                if a != 0 { pixels[base + i] *= 1 + f * a }
            }
        }
    }

    /// Adds amounts[c] times the layer to each channel.
    mutating func add(_ layer: Layer, amounts: [Float]) {
        let n = plane
        for c in 0..<channels {
            let k = amounts[min(c, amounts.count - 1)]
            let base = c * n
            for i in 0..<n { pixels[base + i] += k * layer.values[i] }
        }
    }

    /// Multiplies every channel by the field.
    mutating func multiply(field: [Float]) {
        let n = plane
        for c in 0..<channels {
            let base = c * n
            for i in 0..<n { pixels[base + i] *= field[i] }
        }
    }

    mutating func addNoise(sigma: Float, rng: inout SeededRandom) {
        for i in 0..<pixels.count { pixels[i] += sigma * rng.gaussian() }
    }

    mutating func clamp() { for i in 0..<pixels.count { pixels[i] = clamp01(pixels[i]) } }

    mutating func blur(sigma: Float) {
        for c in 0..<channels { blurPlane(&pixels, offset: c * plane, width: width, height: height, sigma: sigma) }
    }

    /// Bilinear sample of channel c at continuous pixel coordinates (centres at +0.5), edges
    /// clamped.
    @inline(__always) func sample(_ c: Int, _ x: Float, _ y: Float) -> Float {
        let fx = min(max(x - 0.5, 0), Float(width - 1)), fy = min(max(y - 0.5, 0), Float(height - 1))
        let x0 = Int(fx), y0 = Int(fy)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let tx = fx - Float(x0), ty = fy - Float(y0)
        let base = c * plane
        let a = pixels[base + y0 * width + x0], b = pixels[base + y0 * width + x1]
        let d = pixels[base + y1 * width + x0], e = pixels[base + y1 * width + x1]
        return mix(mix(a, b, tx), mix(d, e, tx), ty)
    }

    /// The image smeared along `angle` over `length` pixels (a box filter along the line, as a
    /// moving camera does), within the pixel box `region` (x1, y1, x2, y2; ends exclusive) or
    /// everywhere; pixels outside the region are copied.
    func directionalBlur(angle: Float, length: Float, region: (Int, Int, Int, Int)? = nil) -> Raster {
        var out = self
        let (s, c) = DetMath.sincos(angle)
        let taps = max(2, Int(length.rounded(.up)) + 1)
        let (rx1, ry1, rx2, ry2) = region ?? (0, 0, width, height)
        let xs = max(0, rx1)..<min(width, rx2), ys = max(0, ry1)..<min(height, ry2)
        for ch in 0..<channels {
            for y in ys {
                for x in xs {
                    var total: Float = 0
                    for k in 0..<taps {
                        let t = (Float(k) / Float(taps - 1) - 0.5) * length
                        total += sample(ch, Float(x) + 0.5 + t * c, Float(y) + 0.5 + t * s)
                    }
                    out.pixels[ch * plane + y * width + x] = total / Float(taps)
                }
            }
        }
        return out
    }
}

/// A normalized 1-D Gaussian kernel of radius ceil(3 sigma).
func gaussianTaps(sigma: Float) -> [Float] {
    let radius = max(1, Int((3 * sigma).rounded(.up)))
    var taps = (-radius...radius).map { DetMath.exp(-Float($0 * $0) / (2 * sigma * sigma)) }
    let total = taps.reduce(0, +)
    for i in taps.indices { taps[i] /= total }
    return taps
}

/// Separable Gaussian blur of one width x height plane inside `values`, edges clamped.
func blurPlane(_ values: inout [Float], offset: Int, width: Int, height: Int, sigma: Float) {
    guard sigma > 0.05, width > 0, height > 0 else { return }
    let taps = gaussianTaps(sigma: sigma)
    let radius = taps.count / 2
    var row = [Float](repeating: 0, count: max(width, height))
    values.withUnsafeMutableBufferPointer { v in
        for y in 0..<height {
            let base = offset + y * width
            for x in 0..<width {
                var total: Float = 0
                for k in 0..<taps.count {
                    let xx = min(max(x + k - radius, 0), width - 1)
                    total += taps[k] * v[base + xx]
                }
                row[x] = total
            }
            for x in 0..<width { v[base + x] = row[x] }
        }
        for x in 0..<width {
            for y in 0..<height {
                var total: Float = 0
                for k in 0..<taps.count {
                    let yy = min(max(y + k - radius, 0), height - 1)
                    total += taps[k] * v[offset + yy * width + x]
                }
                row[y] = total
            }
            for y in 0..<height { v[offset + y * width + x] = row[y] }
        }
    }
}
