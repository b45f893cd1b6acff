import Tensor

/// Axial chest CT slices with lung masks (a stand-in for lung-segmentation sets such as the
/// Kaggle / LIDC lung masks).
///
/// Gray images (N, 1, H, W) in a wide window where air is black, lung parenchyma dark gray,
/// fat gray, muscle and blood lighter and bone white. Each slice has a body (an irregular
/// ellipse with a subcutaneous fat layer and textured muscle), the heart and descending aorta,
/// a vertebra with its spinal canal and posterior arch at the bottom centre, ribs round the chest
/// wall, a sternum, often the scapulae, the patient table, and two lungs of varying, asymmetric,
/// kidney-like shape (each lung wraps round the mediastinum). Inside the lungs: vessels (bright
/// dots and short branches, denser near the hilum), sometimes bronchi, ground-glass opacities
/// (hazy brighter patches) and consolidations (dense patches). The scan adds window variation,
/// blur and noise.
///
/// Masks (N, H, W): 0 background (everything not lung), 1 left lung, 2 right lung, in the
/// radiological convention: the patient's left lung is on the image's right, so label 1 sits in
/// the right half of the image and label 2 in the left. A pixel is lung when at least half of
/// it is covered by the drawn lung; vessels, bronchi and opacities inside a lung are lung.
public struct CTLungBenchmark: Benchmark {
    public init() {}

    public var name: String { "ct_lung" }
    public var task: BenchmarkTask { .segmentation }
    public var channels: Int { 1 }
    public var defaultSize: Int { 64 }
    public var classNames: [String] { ["background", "left lung", "right lung"] }
    public var description: String {
        "Axial chest CT slices (gray) with lung masks (N, H, W): 0 background, 1 left lung, 2 right lung; radiological convention (patient's left lung on the image's right)."
    }

    static let salt: UInt64 = 0x4354_4C55_4E47 // "CTLUNG"

    public func generate(first: Int, count: Int, size: Int, seed: UInt64) throws -> BenchmarkData {
        try generateBenchmark("ct_lung", first: first, task: .segmentation, count: count, size: size, seed: seed, salt: Self.salt, channels: 1) { _, rng, out in
            let (image, mask) = Self.render(size: size, rng: &rng)
            image.write(to: out)
            return SampleTargets(mask: mask)
        }
    }

    /// Coverage (0...1) of a signed distance over a one-pixel ramp.
    @inline(__always) static func coverage(_ d: Float) -> Float { clamp01(0.5 - d) }

    static func render(size: Int, rng: inout SeededRandom) -> (Raster, [Float]) {
        let s = Float(size)
        let px = s / 64
        let n = size * size
        let mid = s / 2 + rng.uniform(-0.02, 0.02) * s

        // Body, fat and muscle boundaries.
        let bodyY = s * rng.uniform(0.5, 0.56)
        let body = BlobShape(cx: mid, cy: bodyY, rx: s * rng.uniform(0.41, 0.47), ry: s * rng.uniform(0.29, 0.35),
                        angle: rng.uniform(-0.06, 0.06), harmonics: BlobShape.harmonics(&rng, 0.05))
        let fatDepth = s * rng.uniform(0.018, 0.05)
        // Heart (to the patient's left: image right), aorta and vertebra.
        let heart = BlobShape(cx: mid + s * rng.uniform(0.01, 0.06), cy: bodyY - body.ry * rng.uniform(0.15, 0.35),
                         rx: s * rng.uniform(0.09, 0.13), ry: s * rng.uniform(0.08, 0.115), angle: rng.uniform(-0.6, 0.1),
                         harmonics: BlobShape.harmonics(&rng, 0.06))
        let spineR = s * rng.uniform(0.045, 0.06)
        let spineX = mid + rng.uniform(-0.01, 0.01) * s
        let spineY = bodyY + body.ry - spineR - s * rng.uniform(0.075, 0.1)
        let aortaR = s * rng.uniform(0.024, 0.034)
        let aortaX = spineX + spineR * rng.uniform(0.6, 1.1), aortaY = spineY - spineR * rng.uniform(1.1, 1.5)

        // Lungs: image-left is the patient's right lung (label 2), image-right the left (label 1).
        var lungs: [BlobShape] = []
        for side: Float in [-1, 1] {
            let rx = s * rng.uniform(0.14, 0.18) * (side > 0 ? rng.uniform(0.85, 1) : 1)
            let ry = min(s * rng.uniform(0.2, 0.26), body.ry * 0.95)
            let cx = mid + side * (s * rng.uniform(0.17, 0.21))
            let cy = bodyY - s * rng.uniform(0.0, 0.03)
            lungs.append(BlobShape(cx: cx, cy: cy, rx: rx, ry: ry, angle: side * rng.uniform(-0.25, 0.05), harmonics: BlobShape.harmonics(&rng, 0.1, count: 4)))
        }
        let wall = s * rng.uniform(0.035, 0.06) + fatDepth // chest wall depth
        let gap = s * rng.uniform(0.008, 0.02)
        let mediastinum = s * rng.uniform(0.0, 0.015)

        // Air that is not lung: the trachea or the main bronchi in the mediastinum, sometimes
        // gas in the stomach under the left lung. The lungs keep a thin wall away from them.
        var airways: [(x: Float, y: Float, r: Float, wall: Bool)] = []
        let airwayRoll = rng.uniform()
        if airwayRoll < 0.45 {
            let y = min(heart.cy + heart.ry * rng.uniform(0.7, 1.0), spineY - spineR * 1.6)
            for side: Float in [-1, 1] {
                airways.append((mid + side * s * rng.uniform(0.045, 0.07), y + rng.uniform(-0.01, 0.01) * s, s * rng.uniform(0.012, 0.02), true))
            }
        } else if airwayRoll < 0.75 {
            airways.append((mid + rng.uniform(-0.01, 0.02) * s, spineY - spineR * rng.uniform(1.9, 2.4), s * rng.uniform(0.02, 0.03), true))
        }
        if rng.chance(0.2) {
            airways.append((heart.cx + heart.rx * rng.uniform(0.7, 1.1), heart.cy + heart.ry * rng.uniform(-0.4, 0.2), s * rng.uniform(0.03, 0.05), false))
        }
        let airMargin = rng.uniform(0.8, 1.6) * px

        func lungDistance(_ k: Int, _ x: Float, _ y: Float) -> Float {
            var d = lungs[k].distance(x, y)
            d = max(d, body.distance(x, y) + wall)                  // inside the chest wall
            d = max(d, -(heart.distance(x, y) - mediastinum))       // round the heart
            let sx = x - spineX, sy = y - spineY
            d = max(d, spineR * 1.5 - (sx * sx + sy * sy).squareRoot()) // round the spine
            let ax = x - aortaX, ay = y - aortaY
            d = max(d, aortaR * 1.3 - (ax * ax + ay * ay).squareRoot())
            for a in airways {
                let wx = x - a.x, wy = y - a.y
                d = max(d, a.r + airMargin - (wx * wx + wy * wy).squareRoot())
            }
            // Each lung stays on its own side of the midline.
            d = max(d, k == 0 ? (x - (mid - gap)) : ((mid + gap) - x))
            return d
        }

        let lungReach = lungs.map { $0.reach + 2 }
        var lungCover = [Layer](repeating: Layer(width: size, height: size), count: 2)
        var mask = [Float](repeating: 0, count: n)
        var bodyCover = Layer(width: size, height: size), muscleCover = Layer(width: size, height: size)
        var heartCover = Layer(width: size, height: size)
        for y in 0..<size {
            for x in 0..<size {
                let fx = Float(x) + 0.5, fy = Float(y) + 0.5
                let i = y * size + x
                let bd = body.distance(fx, fy)
                bodyCover.values[i] = coverage(bd)
                muscleCover.values[i] = coverage(bd + fatDepth)
                heartCover.values[i] = coverage(heart.distance(fx, fy))
                for k in 0..<2 {
                    // Beyond the blob's reach the lung cannot be (the other terms only cut).
                    let reach = lungReach[k]
                    guard Swift.abs(fx - lungs[k].cx) < reach, Swift.abs(fy - lungs[k].cy) < reach else { continue }
                    let d = lungDistance(k, fx, fy)
                    lungCover[k].values[i] = coverage(d)
                    if d <= 0 { mask[i] = k == 0 ? 2 : 1 }
                }
            }
        }

        // Tissue: air 0, fat about 0.35, muscle about 0.55, blood 0.6, with texture.
        let texture = ValueNoise(seed: rng.next()).field(width: size, height: size, cells: rng.uniform(6, 10), octaves: 3)
        let fine = ValueNoise(seed: rng.next()).field(width: size, height: size, cells: s / (2.5 * px), octaves: 2)
        let fat = rng.uniform(0.3, 0.38), muscle = rng.uniform(0.5, 0.57), blood = rng.uniform(0.56, 0.63)
        var img = Raster(channels: 1, width: size, height: size, color: [0])
        for i in 0..<n {
            var v = mix(fat, muscle, muscleCover.values[i])
            // Fat streaks between muscles.
            v -= 0.07 * max(0, texture[i]) * muscleCover.values[i]
            v = mix(v, blood + 0.02 * texture[i], heartCover.values[i])
            img.pixels[i] = v * bodyCover.values[i] + 0.015 * fine[i] * bodyCover.values[i]
        }

        var fatRim = Layer(width: size, height: size)       // epicardial fat
        var bones = Layer(width: size, height: size)
        var marrow = Layer(width: size, height: size)
        var dark = Layer(width: size, height: size)         // spinal canal, esophagus
        var bloodVessels = Layer(width: size, height: size) // aorta
        for i in 0..<n {
            let h = heartCover.values[i]
            fatRim.values[i] = h > 0 && h < 1 ? 0.7 : 0
        }
        fatRim.blur(sigma: 0.6 * px)
        img.blend(fatRim, color: [fat], opacity: 0.8)
        bloodVessels.disc(aortaX, aortaY, aortaR)
        img.blend(bloodVessels, color: [blood + 0.03])

        // Vertebra: cortical rim, trabecular body, canal, arch and spinous process.
        bones.ellipse(spineX, spineY, spineR, spineR * 0.9)
        marrow.ellipse(spineX, spineY, spineR * 0.72, spineR * 0.64)
        let canalY = spineY + spineR * 1.55
        let canalR = spineR * 0.55
        for side: Float in [-1, 1] {
            bones.capsule(spineX + side * spineR * 0.5, spineY + spineR * 0.6, spineX + side * canalR * 1.5, canalY + canalR * 0.6,
                          spineR * 0.22, spineR * 0.2)
            bones.capsule(spineX + side * canalR * 1.5, canalY + canalR * 0.6, spineX + side * spineR * 2.1, canalY - spineR * 0.3,
                          spineR * 0.2, spineR * 0.25) // transverse processes
            bones.capsule(spineX + side * canalR * 1.4, canalY + canalR * 0.9, spineX, canalY + canalR * 1.4, spineR * 0.2, spineR * 0.2)
        }
        bones.capsule(spineX, canalY + canalR * 1.4, spineX, canalY + canalR * 1.4 + spineR * rng.uniform(0.7, 1.1), spineR * 0.2, spineR * 0.14)
        dark.disc(spineX, canalY, canalR)
        dark.disc(spineX + rng.uniform(-0.3, 0.3) * spineR, spineY - spineR * 1.25, spineR * 0.28) // esophagus

        // Ribs: short bright arcs just outside the lungs, round the chest wall; sternum in front.
        let ribCount = rng.int(5, 7)
        for side: Float in [-1, 1] {
            for k in 0..<ribCount {
                // Angles from the back (pi/2, below) to the front (-pi/2), on this side.
                let t = (Float(k) + rng.uniform(0.2, 0.8)) / Float(ribCount)
                let theta = Float.pi / 2 - t * Float.pi * rng.uniform(0.85, 0.95) - 0.2
                let (st, ct) = DetMath.sincos(theta)
                let depth = fatDepth + s * rng.uniform(0.012, 0.022)
                let rx = body.rx - depth, ry = body.ry - depth
                let len = rng.uniform(0.12, 0.22)
                let (st2, ct2) = DetMath.sincos(theta - len)
                let x0 = body.cx + side * ct * rx, y0 = body.cy + st * ry
                let x1 = body.cx + side * ct2 * rx * 0.97, y1 = body.cy + st2 * ry * 0.97
                let r = s * rng.uniform(0.008, 0.013)
                bones.capsule(x0, y0, x1, y1, r, r * 0.9)
                marrow.capsule(x0, y0, x1, y1, r * 0.45, r * 0.4)
            }
        }
        bones.ellipse(body.cx + rng.uniform(-0.01, 0.01) * s, body.cy - body.ry + fatDepth + s * 0.03, s * 0.03, s * 0.014)
        if rng.chance(0.7) {
            // Scapulae: thin oblique plates behind the ribs at the back corners.
            for side: Float in [-1, 1] {
                let x0 = body.cx + side * body.rx * rng.uniform(0.45, 0.55), y0 = body.cy + body.ry * rng.uniform(0.55, 0.7)
                let x1 = body.cx + side * body.rx * rng.uniform(0.78, 0.88), y1 = body.cy + body.ry * rng.uniform(0.05, 0.25)
                bones.capsule(x0, y0, x1, y1, s * 0.009, s * 0.014)
            }
        }
        let bone = rng.uniform(0.85, 0.97)
        img.blend(bones, color: [bone])
        img.blend(marrow, color: [bone - rng.uniform(0.12, 0.2)])
        img.blend(dark, color: [muscle - 0.12])

        // Patient table under the body.
        var table = Layer(width: size, height: size)
        let tableY = body.cy + body.ry + s * rng.uniform(0.03, 0.07)
        table.capsule(-s, tableY, 2 * s, tableY + s * rng.uniform(-0.01, 0.01), s * 0.012, s * 0.012)
        img.blend(table, color: [rng.uniform(0.3, 0.45)])

        // Lung parenchyma, darker towards the front (gravity), with vessels and opacities.
        let lungBase = rng.uniform(0.05, 0.14)
        let dependent: Float = rng.chance(0.35) ? rng.uniform(0.08, 0.22) : 0
        let lungTexture = ValueNoise(seed: rng.next()).field(width: size, height: size, cells: rng.uniform(8, 14), octaves: 3)
        var lungLayer = Layer(width: size, height: size)
        var lungImage = Raster(channels: 1, width: size, height: size, color: [0])
        for y in 0..<size {
            // Denser towards the back; sometimes a band of dependent atelectasis.
            let depth = clamp01((Float(y) + 0.5 - (bodyY - body.ry)) / (2 * body.ry))
            let gravity = 0.04 * depth + dependent * smoothstep(0.55, 0.8, depth)
            for x in 0..<size {
                let i = y * size + x
                lungLayer.values[i] = max(lungCover[0].values[i], lungCover[1].values[i])
                lungImage.pixels[i] = lungBase + gravity + 0.025 * lungTexture[i]
            }
        }
        var vessels = Layer(width: size, height: size), bronchi = Layer(width: size, height: size)
        var walls = Layer(width: size, height: size)
        for (k, lung) in lungs.enumerated() {
            let hilumX = lung.cx - (k == 0 ? -1 : 1) * lung.rx * 0.55, hilumY = lung.cy - lung.ry * 0.05
            for _ in 0..<Int(Float(rng.int(35, 65)) * px.squareRoot()) {
                let (x, y) = rng.pointInDisc(lung.cx, lung.cy, max(lung.rx, lung.ry))
                guard lungDistance(k, x, y) < -0.5 else { continue }
                let hx = x - hilumX, hy = y - hilumY
                let near = clamp01(1 - (hx * hx + hy * hy).squareRoot() / (1.6 * lung.rx))
                let r = s * (0.006 + 0.02 * near * near) * rng.uniform(0.6, 1.3)
                if rng.chance(0.35) {
                    // A vessel seen along its length: a short branch pointing from the hilum.
                    let d = max((hx * hx + hy * hy).squareRoot(), 1e-3)
                    let len = s * rng.uniform(0.02, 0.05)
                    vessels.capsule(x, y, x + hx / d * len, y + hy / d * len, r * 0.8, r * 0.5, value: rng.uniform(0.6, 1))
                } else {
                    vessels.disc(x, y, r, edge: 1.2, value: rng.uniform(0.6, 1))
                }
            }
            for _ in 0..<rng.int(0, 3) {
                let (x, y) = rng.pointInDisc(hilumX, hilumY, lung.rx * 0.6)
                guard lungDistance(k, x, y) < -2 * px else { continue }
                let r = s * rng.uniform(0.008, 0.014)
                walls.disc(x, y, r + 0.6 * px)
                bronchi.disc(x, y, r)
            }
        }
        let vesselLevel = rng.uniform(0.42, 0.58)
        lungImage.blend(walls, color: [vesselLevel * 0.8], opacity: 0.8)
        lungImage.blend(bronchi, color: [0.0])
        lungImage.blend(vessels, color: [vesselLevel])

        // Ground-glass opacities and consolidations, confined to the lungs.
        var opacity = Layer(width: size, height: size), consolidation = Layer(width: size, height: size)
        let hazeNoise = ValueNoise(seed: rng.next())
        if rng.chance(0.6) {
            for _ in 0..<rng.int(1, 3) {
                let lung = lungs[rng.below(2)]
                let (x, y) = rng.pointInDisc(lung.cx, lung.cy, min(lung.rx, lung.ry) * 0.8)
                opacity.gaussian(x, y, s * rng.uniform(0.04, 0.09), s * rng.uniform(0.04, 0.09), angle: rng.uniform(0, 3.1415927),
                                 value: rng.uniform(0.5, 1), combine: .add)
            }
        }
        if rng.chance(0.3) {
            // Consolidation, usually dependent and against the chest wall (pneumonia,
            // atelectasis), sometimes central.
            let k = rng.below(2)
            let lung = lungs[k]
            let lateral: Float = k == 0 ? -1 : 1
            let (x, y) = rng.chance(0.7)
                ? rng.pointInDisc(lung.cx + lateral * lung.rx * 0.45, lung.cy + lung.ry * 0.6, min(lung.rx, lung.ry) * 0.35)
                : rng.pointInDisc(lung.cx, lung.cy, min(lung.rx, lung.ry) * 0.5)
            consolidation.ellipse(x, y, s * rng.uniform(0.03, 0.07), s * rng.uniform(0.03, 0.07), angle: rng.uniform(0, 3.1415927), edge: 2 * px)
        }
        let scale = s / 64 * 0.12
        for y in 0..<size {
            for x in 0..<size {
                let i = y * size + x
                let h = 0.6 + 0.4 * hazeNoise.fractal(Float(x) * scale, Float(y) * scale, octaves: 3)
                opacity.values[i] = clamp01(opacity.values[i] * h)
            }
        }
        lungImage.add(opacity, amounts: [rng.uniform(0.15, 0.35)])
        lungImage.blend(consolidation, color: [rng.uniform(0.45, 0.55)], opacity: 0.9)
        img.blend(lungLayer, image: lungImage)
        var airLayer = Layer(width: size, height: size), airWalls = Layer(width: size, height: size)
        for a in airways {
            if a.wall { airWalls.disc(a.x, a.y, a.r + 0.7 * px) }
            airLayer.disc(a.x, a.y, a.r)
        }
        img.blend(airWalls, color: [muscle + 0.05])
        img.blend(airLayer, color: [rng.uniform(0.0, 0.04)])

        // The scanner: window variation, blur, noise, a touch more blur.
        let gain = rng.uniform(0.85, 1.2), offset = rng.uniform(-0.06, 0.06)
        for i in 0..<n { img.pixels[i] = (img.pixels[i] - 0.5) * gain + 0.5 + offset }
        img.blur(sigma: rng.uniform(0.4, 0.7) * px)
        img.addNoise(sigma: rng.uniform(0.025, 0.055), rng: &rng)
        img.blur(sigma: 0.35 * px)
        img.clamp()
        return (img, mask)
    }
}
