import Tensor

/// Colour fundus photographs graded for diabetic retinopathy (a stand-in for datasets such as
/// APTOS / EyePACS / Messidor).
///
/// Each image is a retina on a dark background: a vignetted orange-red disc, a bright optic disc
/// on a random side (left or right eye), a vessel tree branching from it (the four arcades, each
/// an artery and a vein, tapering and branching), a darker macula, and a choroidal texture. The
/// grade is set only by lesions:
///
/// | label | grade | lesions |
/// | --- | --- | --- |
/// | 0 | no DR | none |
/// | 1 | mild NPDR | 1-5 microaneurysms (tiny dark-red dots) |
/// | 2 | moderate NPDR | 4-12 microaneurysms, 1-5 dot/blot haemorrhages, 1-3 clusters of hard exudates |
/// | 3 | severe NPDR | many of each (8-20, 6-14, 2-6), and 1-4 cotton-wool spots |
/// | 4 | proliferative DR | about the grade-3 lesions (6-18, 4-12, 1-5, 0-3) plus 1-3 tufts of neovascularization (fine tortuous vessels) on the disc or along an arcade; sometimes a pre-retinal haemorrhage (a dark pool with a flat top) or fibrous tissue |
///
/// Labels are balanced: every block of five consecutive samples (0-4, 5-9, ...) holds each grade
/// once, in an order drawn from the seed. Nuisance that no grade shares: illumination (gain
/// 0.7-1.15, a linear gradient across the field, vignetting), colour balance (±10% per channel),
/// haze, rotation (±20°), fundus size and position, eye side, and sensor noise and blur; so the
/// global colour of an image says little about its grade.
public struct FundusBenchmark: Benchmark {
    public init() {}

    public var name: String { "fundus" }
    public var task: BenchmarkTask { .classification }
    public var channels: Int { 3 }
    public var defaultSize: Int { 64 }
    public var classNames: [String] {
        ["0 no DR", "1 mild NPDR", "2 moderate NPDR", "3 severe NPDR", "4 proliferative DR"]
    }
    public var description: String {
        "Colour fundus photographs (RGB) graded for diabetic retinopathy 0-4 by their lesions: microaneurysms, haemorrhages, hard exudates, cotton-wool spots, neovascularization. Labels (N), balanced."
    }

    static let salt: UInt64 = 0x4655_4E44_5553 // "FUNDUS"

    public func generate(first: Int, count: Int, size: Int, seed: UInt64) throws -> BenchmarkData {
        try generateBenchmark("fundus", first: first, task: .classification, count: count, size: size, seed: seed, salt: Self.salt, channels: 3) { i, rng, out in
            let grade = Self.grade(index: i, seed: seed)
            Self.render(size: size, grade: grade, rng: &rng).write(to: out)
            return SampleTargets(label: grade)
        }
    }

    /// Sample i's grade: each block of five samples is a permutation of 0...4 drawn from
    /// (seed, block).
    static func grade(index: Int, seed: UInt64) -> Int {
        var rng = SeededRandom(seed: sampleSeed(seed, index: index / 5, salt: salt ^ 0x6752_6164_65))
        var order = [0, 1, 2, 3, 4]
        for k in stride(from: 4, to: 0, by: -1) { order.swapAt(k, rng.below(k + 1)) }
        return order[index % 5]
    }

    /// One vessel: points and radii in pixels.
    struct Vessel {
        var points: [(Float, Float)] = []
        var radii: [Float] = []
        var vein: Bool
    }

    /// The geometry every lesion placement needs.
    struct Eye {
        var cx: Float, cy: Float, radius: Float
        var discX: Float, discY: Float, discRadius: Float
        var maculaX: Float, maculaY: Float
        var vessels: [Vessel] = []

        func inside(_ x: Float, _ y: Float, margin: Float) -> Bool {
            let dx = x - cx, dy = y - cy
            return dx * dx + dy * dy < (radius * margin) * (radius * margin)
        }
        func nearDisc(_ x: Float, _ y: Float, factor: Float) -> Bool {
            let dx = x - discX, dy = y - discY
            return dx * dx + dy * dy < (discRadius * factor) * (discRadius * factor)
        }
        /// A point of the posterior pole, away from the optic disc.
        func lesionSite(_ rng: inout SeededRandom) -> (Float, Float) {
            for _ in 0..<50 {
                let (x, y) = rng.pointInDisc(maculaX, maculaY, radius * 0.78)
                if inside(x, y, margin: 0.9) && !nearDisc(x, y, factor: 1.6) { return (x, y) }
            }
            return (maculaX, maculaY)
        }
        /// A point on one of the larger vessels.
        func vesselSite(_ rng: inout SeededRandom) -> (Float, Float) {
            let big = vessels.filter { $0.points.count > 8 }
            guard !big.isEmpty else { return lesionSite(&rng) }
            let v = big[rng.below(big.count)]
            let p = v.points[rng.int(v.points.count / 3, v.points.count - 1)]
            return p
        }
    }

    static func render(size: Int, grade: Int, rng: inout SeededRandom) -> Raster {
        let s = Float(size)
        let px = s / 64 // one pixel of the 64-pixel design, for blur and edge widths
        let radius = s * rng.uniform(0.43, 0.485)
        let cx = s / 2 + rng.uniform(-0.025, 0.025) * s, cy = s / 2 + rng.uniform(-0.025, 0.025) * s
        let side: Float = rng.sign() // +1: optic disc on the right of the image
        let rotation = rng.uniform(-0.35, 0.35)
        let (rs, rc) = DetMath.sincos(rotation)
        func world(_ u: Float, _ v: Float) -> (Float, Float) {
            (cx + (u * rc - v * rs) * radius, cy + (u * rs + v * rc) * radius)
        }
        let (discX, discY) = world(side * rng.uniform(0.5, 0.62), rng.uniform(-0.1, 0.08))
        let (maculaX, maculaY) = world(-side * rng.uniform(0.0, 0.1), rng.uniform(-0.02, 0.1))
        var eye = Eye(cx: cx, cy: cy, radius: radius, discX: discX, discY: discY, discRadius: radius * rng.uniform(0.12, 0.15),
                      maculaX: maculaX, maculaY: maculaY)

        // Albedo under even light: the fundus colour with a choroidal texture.
        let base: [Float] = [rng.uniform(0.74, 0.9), rng.uniform(0.3, 0.44), rng.uniform(0.1, 0.22)]
        var img = Raster(channels: 3, width: size, height: size, color: base)
        let texture = ValueNoise(seed: rng.next()).field(width: size, height: size, cells: rng.uniform(5, 9), octaves: 4, persistence: 0.55)
        let tint = ValueNoise(seed: rng.next()).field(width: size, height: size, cells: 2.5, octaves: 2)
        let textureAmount = rng.uniform(0.05, 0.1)
        for i in 0..<(size * size) {
            let t = 1 + textureAmount * texture[i]
            img.pixels[i] *= t * (1 + 0.06 * tint[i])
            img.pixels[size * size + i] *= t * (1 - 0.08 * tint[i])
            img.pixels[2 * size * size + i] *= t
        }

        // Macula: a darker spot with a darker fovea.
        var macula = Layer(width: size, height: size)
        macula.gaussian(maculaX, maculaY, radius * 0.17, radius * 0.15, value: rng.uniform(0.7, 1))
        img.multiply(macula, by: [0.74, 0.62, 0.72])
        var fovea = Layer(width: size, height: size)
        fovea.gaussian(maculaX, maculaY, radius * 0.045, radius * 0.045)
        img.multiply(fovea, by: [0.85, 0.78, 0.85])

        // Optic disc: a bright yellowish disc with a paler cup, a soft rim.
        var disc = Layer(width: size, height: size)
        disc.disc(discX, discY, eye.discRadius, edge: max(1, eye.discRadius * 0.35))
        img.blend(disc, color: [1.0, rng.uniform(0.78, 0.9), rng.uniform(0.5, 0.65)], opacity: rng.uniform(0.75, 0.9))
        var cup = Layer(width: size, height: size)
        cup.gaussian(discX - side * eye.discRadius * 0.15, discY, eye.discRadius * 0.4, eye.discRadius * 0.45)
        img.blend(cup, color: [1.0, 0.96, 0.85], opacity: rng.uniform(0.5, 0.8))

        // Vessels from the disc: arteries lighter and thinner than veins.
        eye.vessels = growVesselTree(eye: eye, side: side, rotation: rotation, rng: &rng)
        var veins = Layer(width: size, height: size), arteries = Layer(width: size, height: size)
        for v in eye.vessels {
            if v.vein { veins.polyline(v.points, radii: v.radii) } else { arteries.polyline(v.points, radii: v.radii) }
        }
        let vesselRed = base[0] * rng.uniform(0.55, 0.65)
        img.blend(arteries, color: [vesselRed * 1.15, base[1] * 0.45, base[2] * 0.5], opacity: 0.7)
        img.blend(veins, color: [vesselRed, base[1] * 0.3, base[2] * 0.4], opacity: 0.85)

        drawLesions(grade: grade, eye: eye, image: &img, rng: &rng)

        // Light: gain, a gradient across the field, vignetting and a dark rim; colour balance.
        let gain = rng.uniform(0.7, 1.15)
        let gradient = rng.uniform(0, 0.35)
        let (gs, gc) = DetMath.sincos(rng.uniform(0, 6.2831855))
        let vignette = rng.uniform(0.2, 0.5)
        let balance: [Float] = [1 + rng.uniform(-0.1, 0.1), 1 + rng.uniform(-0.1, 0.1), 1 + rng.uniform(-0.1, 0.1)]
        let haze = rng.chance(0.3) ? rng.uniform(0, 0.06) : 0
        var field = Layer(width: size, height: size)
        for y in 0..<size {
            for x in 0..<size {
                let dx = (Float(x) + 0.5 - cx) / radius, dy = (Float(y) + 0.5 - cy) / radius
                let r2 = dx * dx + dy * dy
                let r = r2.squareRoot()
                let light = gain * (1 + gradient * (dx * gc + dy * gs)) * (1 - vignette * r2) * (1 - 0.35 * smoothstep(0.8, 1.0, r))
                field[x, y] = max(0, light)
            }
        }
        img.multiply(field: field.values)
        let plane = size * size
        for c in 0..<3 {
            for i in 0..<plane { img.pixels[c * plane + i] = img.pixels[c * plane + i] * balance[c] + haze * (c == 2 ? 0.6 : 1) }
        }

        // The field stop: black outside the retina.
        var retina = Layer(width: size, height: size)
        retina.disc(cx, cy, radius, edge: 1.2 * px)
        let dark = rng.uniform(0, 0.03)
        for c in 0..<3 {
            for i in 0..<plane { img.pixels[c * plane + i] = dark + (img.pixels[c * plane + i] - dark) * retina.values[i] }
        }

        img.blur(sigma: rng.uniform(0.3, 0.55) * px)
        img.addNoise(sigma: rng.uniform(0.006, 0.022), rng: &rng)
        img.clamp()
        return img
    }

    // MARK: Vessels

    /// The four arcades (superior and inferior temporal, curving round the macula; superior and
    /// inferior nasal), each an artery and a vein, plus small macular branches.
    static func growVesselTree(eye: Eye, side: Float, rotation: Float, rng: inout SeededRandom) -> [Vessel] {
        // Angles are measured in a frame whose +x points from the disc towards the macula.
        let frame = rotation + (side > 0 ? Float.pi : 0)
        let r = eye.radius
        var vessels: [Vessel] = []
        let arcades: [(angle: Float, curve: Float, steps: Int)] = [
            (-1.25, 0.05, 30), (1.25, -0.05, 30), (-2.1, -0.018, 20), (2.1, 0.018, 20),
        ]
        for a in arcades {
            for vein in [true, false] {
                let angle = a.angle + rng.uniform(-0.15, 0.15) + (vein ? 0 : 0.12 * (a.angle < 0 ? 1 : -1))
                let startRadius = r * (vein ? rng.uniform(0.02, 0.025) : rng.uniform(0.015, 0.019))
                let (ox, oy) = rng.pointInDisc(eye.discX, eye.discY, eye.discRadius * 0.4)
                grow(&vessels, eye: eye, x: ox, y: oy, angle: frame + angle, curve: a.curve * rng.uniform(0.8, 1.2),
                     radius: startRadius, steps: Int(Float(a.steps) * rng.uniform(0.85, 1.15)), depth: 0, vein: vein, rng: &rng)
            }
        }
        for _ in 0..<rng.int(2, 4) {
            let (ox, oy) = rng.pointInDisc(eye.discX, eye.discY, eye.discRadius * 0.3)
            grow(&vessels, eye: eye, x: ox, y: oy, angle: frame + rng.uniform(-0.45, 0.45), curve: rng.uniform(-0.03, 0.03),
                 radius: r * rng.uniform(0.009, 0.013), steps: rng.int(7, 12), depth: 1, vein: rng.chance(0.5), rng: &rng)
        }
        return vessels
    }

    /// A random walk with a steady turn, tapering, branching now and then; it stops in the fovea
    /// and outside the retina.
    static func grow(_ vessels: inout [Vessel], eye: Eye, x: Float, y: Float, angle: Float, curve: Float, radius: Float,
                     steps: Int, depth: Int, vein: Bool, rng: inout SeededRandom) {
        var v = Vessel(vein: vein)
        var px = x, py = y, a = angle, rad = radius
        let step = eye.radius * 0.036
        v.points.append((px, py))
        v.radii.append(rad)
        for k in 0..<steps {
            a += curve + rng.gaussian() * 0.1
            let (s, c) = DetMath.sincos(a)
            px += step * c
            py += step * s
            rad *= 0.978
            let mx = px - eye.maculaX, my = py - eye.maculaY
            if mx * mx + my * my < (eye.radius * 0.1) * (eye.radius * 0.1) || !eye.inside(px, py, margin: 1.02) { break }
            v.points.append((px, py))
            v.radii.append(rad)
            if depth < 2 && k >= 3 && k < steps - 3 && rng.chance(depth == 0 ? 0.11 : 0.07) {
                grow(&vessels, eye: eye, x: px, y: py, angle: a + rng.sign() * rng.uniform(0.45, 0.95), curve: rng.uniform(-0.05, 0.05),
                     radius: rad * rng.uniform(0.6, 0.8), steps: Int(Float(steps - k) * rng.uniform(0.4, 0.7)), depth: depth + 1,
                     vein: vein, rng: &rng)
            }
        }
        if v.points.count >= 2 { vessels.append(v) }
    }

    // MARK: Lesions

    static func drawLesions(grade: Int, eye: Eye, image img: inout Raster, rng: inout SeededRandom) {
        guard grade > 0 else { return }
        let size = img.width
        let r = eye.radius
        let counts: (ma: Int, haem: Int, exudate: Int, cws: Int, nv: Int)
        switch grade {
        case 1: counts = (rng.int(1, 5), 0, 0, 0, 0)
        case 2: counts = (rng.int(4, 12), rng.int(1, 5), rng.int(1, 3), 0, 0)
        case 3: counts = (rng.int(8, 20), rng.int(6, 14), rng.int(2, 6), rng.int(1, 4), 0)
        default: counts = (rng.int(6, 18), rng.int(4, 12), rng.int(1, 5), rng.int(0, 3), rng.int(1, 3))
        }

        // Hard exudates: sharp yellow spots in clusters, often round the macula.
        var exudates = Layer(width: size, height: size)
        for _ in 0..<counts.exudate {
            let (ex, ey) = rng.chance(0.5) ? rng.pointInDisc(eye.maculaX, eye.maculaY, r * 0.35) : eye.lesionSite(&rng)
            for _ in 0..<rng.int(1, 6) {
                let (x, y) = rng.pointInDisc(ex, ey, r * 0.09)
                guard eye.inside(x, y, margin: 0.92), !eye.nearDisc(x, y, factor: 1.3) else { continue }
                exudates.disc(x, y, r * rng.uniform(0.012, 0.032), edge: 0.8, value: rng.uniform(0.75, 1))
            }
        }
        img.blend(exudates, color: [1.0, 0.9, 0.45], opacity: 0.92)

        // Cotton-wool spots: fuzzy pale patches along the arcades.
        var cws = Layer(width: size, height: size)
        for _ in 0..<counts.cws {
            let (vx, vy) = eye.vesselSite(&rng)
            let (x, y) = rng.pointInDisc(vx, vy, r * 0.06)
            let a = rng.uniform(0, 3.1415927)
            cws.gaussian(x, y, r * rng.uniform(0.04, 0.075), r * rng.uniform(0.03, 0.05), angle: a, value: rng.uniform(0.55, 0.8))
            let (x2, y2) = rng.pointInDisc(x, y, r * 0.04)
            cws.gaussian(x2, y2, r * rng.uniform(0.025, 0.045), r * rng.uniform(0.02, 0.04), angle: a, value: rng.uniform(0.4, 0.7))
        }
        img.blend(cws, color: [0.97, 0.92, 0.8], opacity: 1)

        // Neovascularization: tufts of fine tortuous vessels on the disc or along an arcade.
        var nv = Layer(width: size, height: size)
        for _ in 0..<counts.nv {
            let (tx, ty) = rng.chance(0.5) ? rng.pointInDisc(eye.discX, eye.discY, eye.discRadius * 0.9) : eye.vesselSite(&rng)
            let extent = r * rng.uniform(0.09, 0.15)
            for _ in 0..<rng.int(3, 5) {
                var (x, y) = rng.pointInDisc(tx, ty, extent * 0.5)
                var (dx, dy) = DetMath.sincos(rng.uniform(0, 6.2831855))
                var points = [(x, y)]
                for _ in 0..<rng.int(14, 26) {
                    let (s, c) = DetMath.sincos(rng.gaussian() * 0.75)
                    (dx, dy) = (dx * c - dy * s, dx * s + dy * c)
                    let ox = x - tx, oy = y - ty
                    if ox * ox + oy * oy > extent * extent {
                        // Turn back towards the centre of the tuft.
                        let d = (ox * ox + oy * oy).squareRoot()
                        (dx, dy) = (-ox / d, -oy / d)
                    }
                    x += dx * r * 0.022
                    y += dy * r * 0.022
                    points.append((x, y))
                }
                nv.polyline(points, radii: [Float](repeating: r * rng.uniform(0.011, 0.016), count: points.count), edge: 0.8)
            }
        }
        img.multiply(nv, by: [0.66, 0.32, 0.4])
        if counts.nv > 0 && rng.chance(0.35) {
            // Fibrous tissue over the new vessels.
            var fibrous = Layer(width: size, height: size)
            let (fx, fy) = eye.vesselSite(&rng)
            fibrous.gaussian(fx, fy, r * rng.uniform(0.06, 0.1), r * rng.uniform(0.03, 0.05), angle: rng.uniform(0, 3.1415927), value: 0.45)
            img.blend(fibrous, color: [0.95, 0.9, 0.85], opacity: 1)
        }

        // Haemorrhages: dot and blot (clusters of ellipses) or flame-shaped (elongated).
        var haem = Layer(width: size, height: size)
        for _ in 0..<counts.haem {
            let (x, y) = rng.chance(0.4) ? eye.vesselSite(&rng) : eye.lesionSite(&rng)
            if rng.chance(0.25) {
                let len = r * rng.uniform(0.06, 0.1)
                haem.ellipse(x, y, len, len * rng.uniform(0.3, 0.45), angle: rng.uniform(0, 3.1415927), edge: 1.5, value: rng.uniform(0.7, 0.9))
            } else {
                for _ in 0..<rng.int(1, 3) {
                    let (bx, by) = rng.pointInDisc(x, y, r * 0.035)
                    let br = r * rng.uniform(0.03, 0.07)
                    haem.ellipse(bx, by, br, br * rng.uniform(0.65, 1), angle: rng.uniform(0, 3.1415927), edge: 1.1, value: rng.uniform(0.75, 0.95))
                }
            }
        }
        if counts.nv > 0 && rng.chance(0.3) {
            // A pre-retinal haemorrhage: a large dark pool with a flat upper edge.
            let (x, y) = eye.lesionSite(&rng)
            let pr = r * rng.uniform(0.1, 0.16)
            var pool = Layer(width: size, height: size)
            pool.disc(x, y, pr, edge: 1.2)
            for yy in 0..<size where Float(yy) + 0.5 < y - pr * 0.3 {
                for xx in 0..<size { pool[xx, yy] = 0 }
            }
            for i in 0..<haem.values.count { haem.values[i] = max(haem.values[i], 0.9 * pool.values[i]) }
        }
        img.blend(haem, color: [0.42, 0.05, 0.04], opacity: 1)

        // Microaneurysms: tiny round dark-red dots, sharp.
        var ma = Layer(width: size, height: size)
        for _ in 0..<counts.ma {
            let (x, y) = eye.lesionSite(&rng)
            ma.disc(x, y, r * rng.uniform(0.018, 0.03), edge: 0.8, value: rng.uniform(0.8, 1))
        }
        img.blend(ma, color: [0.46, 0.06, 0.05], opacity: 1)
    }
}
