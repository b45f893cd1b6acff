import Tensor

/// Endoscopic frames with boxed imaging artefacts (a stand-in for the Endoscopic Artefact
/// Detection challenge, EAD2019).
///
/// The scene: pink-red mucosa (fractal texture, low-frequency tint, fine capillaries), folds
/// round a dark lumen lit by the scope's light, vignetting, and often the scope's black corners.
/// Each image holds 1-4 artefacts, classes drawn uniformly:
///
/// | label | class | what it looks like |
/// | --- | --- | --- |
/// | 0 | specularity | a few small saturated white spots with a soft halo |
/// | 1 | saturation | a large overexposed, clipped near-white region |
/// | 2 | bubbles | a cluster of circles with bright rims and a glint each |
/// | 3 | motion blur | a region smeared along one direction |
/// | 4 | low contrast | a washed-out, hazy region |
///
/// Boxes are tight around the pixels where the artefact's opacity is at least 1/4, in pixel
/// coordinates with exclusive ends (see `Box`); artefacts of one image overlap little (their
/// intersection is under a quarter of the smaller box).
public struct EndoscopyBenchmark: Benchmark {
    public init() {}

    public var name: String { "endoscopy" }
    public var task: BenchmarkTask { .detection }
    public var channels: Int { 3 }
    public var defaultSize: Int { 64 }
    public var classNames: [String] { ["specularity", "saturation", "bubbles", "motion blur", "low contrast"] }
    public var description: String {
        "Endoscopic frames (RGB) with 1-4 boxed artefacts each: 0 specularity, 1 saturation, 2 bubbles, 3 motion blur, 4 low contrast. Boxes (x1, y1, x2, y2, label) in pixels."
    }

    static let salt: UInt64 = 0x454E_444F_5343 // "ENDOSC"
    static let boxThreshold: Float = 0.25

    public func generate(first: Int, count: Int, size: Int, seed: UInt64) throws -> BenchmarkData {
        try generateBenchmark("endoscopy", first: first, task: .detection, count: count, size: size, seed: seed, salt: Self.salt, channels: 3) { _, rng, out in
            let (image, boxes) = Self.render(size: size, rng: &rng)
            image.write(to: out)
            return SampleTargets(boxes: boxes)
        }
    }

    static func render(size: Int, rng: inout SeededRandom) -> (Raster, [Box]) {
        let s = Float(size)
        let px = s / 64
        var (img, aperture) = mucosa(size: size, rng: &rng)

        // Choose the artefacts, regions first so that the small ones land on top.
        var classes = (0..<rng.int(1, 4)).map { _ in rng.below(5) }
        let order: [Int: Int] = [3: 0, 4: 1, 1: 2, 2: 3, 0: 4]
        classes.sort { order[$0, default: 0] < order[$1, default: 0] }

        var boxes: [Box] = []
        func place(_ cls: Int, tries: Int) {
            // A few tries to find a spot that does not overlap what is there and where the
            // artefact shows (blur and low contrast change little on smooth mucosa).
            for _ in 0..<tries {
                var candidate = img
                guard let alpha = drawArtefact(cls, image: &candidate, aperture: aperture, size: size, px: px, rng: &rng),
                      let (x1, y1, x2, y2) = alpha.bounds(threshold: boxThreshold) else { continue }
                let box = Box(x1: Float(x1), y1: Float(y1), x2: Float(x2), y2: Float(y2), label: cls)
                guard box.width >= 1, box.height >= 1, boxes.allSatisfy({ overlap($0, box) < 0.25 }),
                      change(from: img, to: candidate, where: alpha) >= (cls == 3 ? 0.03 : 0.02) else { continue }
                img = candidate
                boxes.append(box)
                return
            }
        }
        for cls in classes { place(cls, tries: 10) }
        // Every image has at least one artefact; a specularity always finds room.
        if boxes.isEmpty { place(0, tries: 100) }

        // The sensor: gain, colour balance, blur and noise over everything.
        let gain = rng.uniform(0.85, 1.1)
        let balance: [Float] = [gain * rng.uniform(0.95, 1.05), gain * rng.uniform(0.93, 1.07), gain * rng.uniform(0.93, 1.07)]
        let plane = size * size
        for c in 0..<3 {
            for i in 0..<plane { img.pixels[c * plane + i] *= balance[c] }
        }
        img.blur(sigma: rng.uniform(0.3, 0.5) * px)
        img.addNoise(sigma: rng.uniform(0.008, 0.025), rng: &rng)
        // Back to black outside the scope's aperture.
        for c in 0..<3 {
            for i in 0..<plane { img.pixels[c * plane + i] *= aperture.values[i] }
        }
        img.clamp()
        return (img, boxes)
    }

    /// Mean absolute change per channel, weighted by the artefact's opacity.
    static func change(from a: Raster, to b: Raster, where alpha: Layer) -> Float {
        let n = a.plane
        var total: Float = 0, weight: Float = 0
        for i in 0..<n where alpha.values[i] > 0 {
            var d: Float = 0
            for c in 0..<a.channels { d += Swift.abs(b.pixels[c * n + i] - a.pixels[c * n + i]) }
            total += alpha.values[i] * d / Float(a.channels)
            weight += alpha.values[i]
        }
        return weight > 0 ? total / weight : 0
    }

    /// The summed-area table, (size+1)^2, of the luminance gradient magnitude.
    static func gradientIntegral(_ img: Raster) -> [Float] {
        let w = img.width, h = img.height, n = img.plane
        var table = [Float](repeating: 0, count: (w + 1) * (h + 1))
        func lum(_ x: Int, _ y: Int) -> Float {
            let i = y * w + x
            return 0.3 * img.pixels[i] + 0.59 * img.pixels[n + i] + 0.11 * img.pixels[2 * n + i]
        }
        for y in 0..<h {
            var row: Float = 0
            for x in 0..<w {
                let g = Swift.abs(lum(min(x + 1, w - 1), y) - lum(max(x - 1, 0), y)) + Swift.abs(lum(x, min(y + 1, h - 1)) - lum(x, max(y - 1, 0)))
                row += g
                table[(y + 1) * (w + 1) + x + 1] = table[y * (w + 1) + x + 1] + row
            }
        }
        return table
    }

    /// The sum of a summed-area table over pixels x0..<x1, y0..<y1 (clipped to the image).
    static func windowSum(_ table: [Float], size: Int, x0: Int, y0: Int, x1: Int, y1: Int) -> Float {
        let a = max(0, min(size, x0)), b = max(0, min(size, y0)), c = max(0, min(size, x1)), d = max(0, min(size, y1))
        let w = size + 1
        return table[d * w + c] - table[b * w + c] - table[d * w + a] + table[b * w + a]
    }

    /// Intersection over the smaller box's area: high when one box hides inside the other.
    static func overlap(_ a: Box, _ b: Box) -> Float {
        let w = min(a.x2, b.x2) - max(a.x1, b.x1), h = min(a.y2, b.y2) - max(a.y1, b.y1)
        guard w > 0, h > 0 else { return 0 }
        return w * h / max(1e-6, min(a.area, b.area))
    }

    /// The scene without artefacts, and the scope's aperture (1 inside, 0 in the black corners).
    static func mucosa(size: Int, rng: inout SeededRandom) -> (Raster, Layer) {
        let s = Float(size)
        let n = size * size
        // Lumen: a dark hole, often off-centre, sometimes out of view.
        let lumenX = s * rng.uniform(-0.1, 1.1), lumenY = s * rng.uniform(-0.1, 1.1)
        let lumenR = s * rng.uniform(0.08, 0.2)
        // Folds: a few rings round the lumen, warped, each lit on the side facing the scope with a
        // thin shadow where it hides the wall behind it; some fade out along their length.
        var folds: [Float] = []
        var radius = lumenR * rng.uniform(1.1, 1.6)
        for _ in 0..<rng.int(2, 5) {
            folds.append(radius)
            radius += s * rng.uniform(0.14, 0.3)
        }
        let foldWidth = s * rng.uniform(0.035, 0.06)
        let foldDepth = rng.uniform(0.5, 1)
        let warp = ValueNoise(seed: rng.next())
        let presence = ValueNoise(seed: rng.next())
        let texture = ValueNoise(seed: rng.next()).field(width: size, height: size, cells: rng.uniform(6, 12), octaves: 4)
        let tint = ValueNoise(seed: rng.next()).field(width: size, height: size, cells: 2, octaves: 2)
        let capillaryNoise = ValueNoise(seed: rng.next())
        let capillaryScale = rng.uniform(5, 9) / s
        let capillaryAmount = rng.uniform(0.3, 1)
        let base: [Float] = [rng.uniform(0.78, 0.92), rng.uniform(0.36, 0.5), rng.uniform(0.32, 0.45)]
        let ambient = rng.uniform(0.1, 0.25)
        let warpScale = 3 / s
        var img = Raster(channels: 3, width: size, height: size, color: [0, 0, 0])
        for y in 0..<size {
            for x in 0..<size {
                let i = y * size + x
                let fx = Float(x) + 0.5, fy = Float(y) + 0.5
                let dx = fx - lumenX, dy = fy - lumenY
                let d = (dx * dx + dy * dy).squareRoot()
                // Light falls off towards the lumen (farther from the scope).
                let light = ambient + (1 - ambient) * smoothstep(lumenR * 0.5, lumenR * 3, d)
                let dw = d + s * 0.08 * warp.fractal(fx * warpScale, fy * warpScale, octaves: 2)
                var shade: Float = 1
                for (k, r) in folds.enumerated() {
                    let u = (r - dw) / foldWidth
                    guard u > -4, u < 2 else { continue }
                    let strength = foldDepth * smoothstep(0.3, 0.6, presence.sample(fx * warpScale + Float(k) * 7.1, fy * warpScale))
                    let lit = 0.25 * DetMath.exp(-2 * (u + 0.7) * (u + 0.7))
                    let crease = 0.55 * DetMath.exp(-((u - 0.2) * (u - 0.2)) / 0.08)
                    shade *= (1 + strength * lit) * (1 - strength * crease)
                }
                // Capillaries: thin lines where a noise field crosses its middle value.
                let cn = capillaryNoise.fractal(fx * capillaryScale, fy * capillaryScale, octaves: 3)
                let capillary = capillaryAmount * (1 - smoothstep(0, 0.06, Swift.abs(cn)))
                let t = 1 + 0.08 * texture[i]
                let lum = light * shade * t
                img.pixels[i] = lum * base[0] * (1 + 0.05 * tint[i]) * (1 - 0.12 * capillary)
                img.pixels[n + i] = lum * base[1] * (1 - 0.1 * tint[i]) * (1 - 0.35 * capillary)
                img.pixels[2 * n + i] = lum * base[2] * (1 - 0.3 * capillary)
            }
        }
        // Vignetting and the scope's aperture: a rounded square or a circle, or the full frame.
        var aperture = Layer(width: size, height: size, fill: 1)
        let kind = rng.below(3)
        let apertureR = s * rng.uniform(0.55, 0.68)
        let vignette = rng.uniform(0.15, 0.4)
        for y in 0..<size {
            for x in 0..<size {
                let dx = (Float(x) + 0.5 - s / 2), dy = (Float(y) + 0.5 - s / 2)
                let r2 = (dx * dx + dy * dy) / (s * s / 2)
                for c in 0..<3 { img.pixels[c * n + y * size + x] *= 1 - vignette * r2 }
                switch kind {
                case 0: // circle
                    aperture[x, y] = clamp01(0.5 + apertureR - (dx * dx + dy * dy).squareRoot())
                case 1: // octagon: square with cut corners
                    let cut = Swift.abs(dx) + Swift.abs(dy)
                    aperture[x, y] = clamp01(0.5 + apertureR * 1.22 - cut)
                default:
                    break
                }
            }
        }
        return (img, aperture)
    }

    /// A centre for an artefact of radius r, inside the aperture; nil when none is found.
    static func site(_ r: Float, size: Int, aperture: Layer, rng: inout SeededRandom) -> (Float, Float)? {
        let s = Float(size)
        for _ in 0..<20 {
            let x = rng.uniform(r, max(r + 1, s - r)), y = rng.uniform(r, max(r + 1, s - r))
            let xi = min(size - 1, max(0, Int(x))), yi = min(size - 1, max(0, Int(y)))
            if aperture[xi, yi] > 0.99 { return (x, y) }
        }
        return nil
    }

    /// Draws one artefact into the image; returns its opacity layer (the box comes from it).
    static func drawArtefact(_ cls: Int, image img: inout Raster, aperture: Layer, size: Int, px: Float,
                             rng: inout SeededRandom) -> Layer? {
        let s = Float(size)
        var alpha = Layer(width: size, height: size)
        switch cls {
        case 0: // specularity: small white spots with a halo
            guard let (cx, cy) = site(s * 0.06, size: size, aperture: aperture, rng: &rng) else { return nil }
            var halo = Layer(width: size, height: size)
            for _ in 0..<rng.int(1, 4) {
                let (x, y) = rng.pointInDisc(cx, cy, s * 0.035)
                let r = s * rng.uniform(0.008, 0.025)
                let a = rng.uniform(0, 3.1415927)
                let aspect = rng.uniform(1, 2.2)
                alpha.ellipse(x, y, r * aspect, r, angle: a, edge: 0.8)
                halo.gaussian(x, y, (r * aspect + px) * 1.4, (r + px) * 1.4, angle: a, value: 0.75)
            }
            img.blend(halo, color: [1, 0.92, 0.92])
            img.blend(alpha, color: [1, 1, 1])
            for i in 0..<alpha.values.count { alpha.values[i] = max(alpha.values[i], halo.values[i]) }

        case 1: // saturation: a large blown-out region with a soft edge
            let r = s * rng.uniform(0.08, 0.18)
            guard let (cx, cy) = site(r * 0.7, size: size, aperture: aperture, rng: &rng) else { return nil }
            let shape = BlobShape(cx: cx, cy: cy, rx: r * rng.uniform(0.8, 1.3), ry: r * rng.uniform(0.7, 1.1),
                                  angle: rng.uniform(0, 3.1415927), harmonics: BlobShape.harmonics(&rng, 0.25, count: 4))
            alpha.blob(shape, edge: rng.uniform(2.5, 5) * px)
            var glow = alpha
            glow.blur(sigma: r * 0.35)
            img.blend(glow, color: [1, 0.9, 0.88], opacity: 0.6)
            img.blend(alpha, color: [1, rng.uniform(0.95, 1), rng.uniform(0.93, 1)])
            for i in 0..<alpha.values.count { alpha.values[i] = max(alpha.values[i], 0.6 * glow.values[i]) }

        case 2: // bubbles: circles with bright rims, a glint each, a faint interior
            let clusterR = s * rng.uniform(0.05, 0.13)
            guard let (cx, cy) = site(clusterR, size: size, aperture: aperture, rng: &rng) else { return nil }
            var rims = Layer(width: size, height: size), inside = Layer(width: size, height: size)
            var glints = Layer(width: size, height: size), shadow = Layer(width: size, height: size)
            var placed: [(Float, Float, Float)] = []
            for _ in 0..<rng.int(3, 10) {
                let r = max(1.2 * px, s * rng.uniform(0.012, 0.045))
                let (x, y) = rng.pointInDisc(cx, cy, clusterR)
                // Bubbles touch but do not overlap much.
                guard placed.allSatisfy({ p in
                    let dx = p.0 - x, dy = p.1 - y
                    return (dx * dx + dy * dy).squareRoot() > 0.85 * (p.2 + r)
                }) else { continue }
                placed.append((x, y, r))
                shadow.ring(x, y, r + 0.6 * px, width: 0.8 * px, value: 0.6)
                rims.ring(x, y, r, width: max(0.7, 0.16 * r), value: rng.uniform(0.7, 1))
                inside.disc(x, y, r)
                glints.disc(x - r * 0.4, y - r * 0.4, max(0.4, r * 0.18), edge: 0.8)
            }
            guard !placed.isEmpty else { return nil }
            img.multiply(shadow, by: [0.75, 0.7, 0.7])
            img.blend(inside, color: [1, 0.9, 0.9], opacity: 0.15)
            img.blend(rims, color: [1, 0.97, 0.95], opacity: 0.9)
            img.blend(glints, color: [1, 1, 1])
            for i in 0..<alpha.values.count { alpha.values[i] = max(inside.values[i], rims.values[i]) }

        case 3: // motion blur: a region smeared along a direction
            let r = s * rng.uniform(0.12, 0.22)
            // Blur shows where there is structure to smear: of a few sites, take the one with
            // the most gradient around it.
            let energy = gradientIntegral(img)
            var best: (Float, Float)?, bestEnergy: Float = -1
            for _ in 0..<6 {
                guard let (x, y) = site(r * 0.8, size: size, aperture: aperture, rng: &rng) else { continue }
                let e = windowSum(energy, size: size, x0: Int(x - r), y0: Int(y - r), x1: Int(x + r), y1: Int(y + r))
                if e > bestEnergy { bestEnergy = e; best = (x, y) }
            }
            guard let (cx, cy) = best else { return nil }
            alpha.ellipse(cx, cy, r * rng.uniform(0.8, 1.3), r * rng.uniform(0.6, 1), angle: rng.uniform(0, 3.1415927), edge: 2.5 * px)
            let blurred = img.directionalBlur(angle: rng.uniform(0, 3.1415927), length: s * rng.uniform(0.15, 0.3),
                                              region: alpha.bounds(threshold: 1e-6))
            img.blend(alpha, image: blurred)

        default: // low contrast: washed out towards a hazy gray
            let r = s * rng.uniform(0.12, 0.24)
            guard let (cx, cy) = site(r * 0.8, size: size, aperture: aperture, rng: &rng) else { return nil }
            let shape = BlobShape(cx: cx, cy: cy, rx: r * rng.uniform(0.8, 1.3), ry: r * rng.uniform(0.6, 1),
                                  angle: rng.uniform(0, 3.1415927), harmonics: BlobShape.harmonics(&rng, 0.15))
            alpha.blob(shape, edge: 3 * px)
            let keep = rng.uniform(0.15, 0.4)
            let haze: [Float] = [rng.uniform(0.6, 0.8), rng.uniform(0.5, 0.65), rng.uniform(0.5, 0.65)]
            var washed = img
            let n = size * size
            for c in 0..<3 {
                // The mean under the region, so the wash keeps its local colour.
                var total: Float = 0, weight: Float = 0
                for i in 0..<n { total += img.pixels[c * n + i] * alpha.values[i]; weight += alpha.values[i] }
                let m = weight > 0 ? total / weight : 0.5
                let target = mix(m, haze[c], 0.5)
                for i in 0..<n { washed.pixels[c * n + i] = target + (img.pixels[c * n + i] - m) * keep }
            }
            img.blend(alpha, image: washed)
        }
        alpha.multiply(aperture)
        return alpha
    }
}
