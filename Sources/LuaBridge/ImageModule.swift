import Attacks
import CLua
import CLuaShim
import Tensor

/// `smia.image`: PNG and DICOM files, CT windowing, volume slices and sample sheets.
///
/// - `read(path[, {mask = true}])`: C×H×W in [0, 1] (C = 1 for gray, 3 for RGB and palette;
///   8 and 16-bit; alpha is dropped). With `mask = true`: H×W of the stored integers (gray
///   values, or palette indices), for label masks.
/// - `read(path[, {window =, frame =}])` of a DICOM file (`.dcm`, `.dicom`, or "DICM" in the
///   file): one frame (`frame`, from 1; required for multi-frame files) as C×H×W in [0, 1]
///   through `window`: `{center =, width =}`, `"file"` (the file's own window), `"range"` (the
///   stored bit depth's range) or `"minmax"`; by default the file's own window, else the range.
///   MONOCHROME1 images are inverted, so that bright is 1. See `DICOM`.
/// - `write(path, t[, {mask = true | bits = 16}])`: C×H×W (C = 1 or 3), 1×C×H×W or H×W, clamped
///   to [0, 1], as an 8-bit PNG, or with `bits = 16` a 16-bit one (lossless to 1/65535, for
///   adversarial images); with `mask = true`, H×W integers 0...255 as gray values. Atomic.
/// - `window(t, {center =, width =})`: CT display window, `(x - (center - width/2)) / width`
///   clipped to [0, 1] (lung: center -600, width 1500).
/// - `slices(volume[, dim])`: the 2-D slices of a (Z, Y, X) volume along dimension `dim`
///   (1-based, default 1: Z), as a list.
/// - `sheet{images =, labels = | masks = | boxes =, count =, columns =, padding =, scale =}`:
///   a grid of images (N, C, H, W) with their targets drawn, as one 3×H×W tensor.
enum ImageBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 5)
        setFunctions(L, prefix: "image.", [
            ("read", { a in
                let path = try a.string(1)
                let o = try LuaOptions(a, 2, names: ["mask", "window", "frame"])
                let mask = try o.boolean("mask", default: false)
                let window = try o.dicomWindow()
                let frame = try o.integer("frame")
                try a.checkNoMore(than: 2)
                if mask {
                    guard window == nil, frame == nil else { throw a.error(2, "mask = true reads label PNGs: no window or frame") }
                    return a.push(try prefixed("read") { try PNGImage.readLabels(path: path) })
                }
                if let frame, frame < 1 { throw a.error(2, "option 'frame': frames count from 1, got \(frame)") }
                return a.push(try prefixed("read") { try ImageFile.read(path: path, window: window, frame: frame.map { $0 - 1 }) })
            }),
            ("write", { a in
                let path = try a.string(1)
                let t = try a.tensor(2)
                let o = try LuaOptions(a, 3, names: ["mask", "bits"])
                let mask = try o.boolean("mask", default: false)
                let bits = try o.integer("bits") ?? 8
                try a.checkNoMore(than: 3)
                guard bits == 8 || bits == 16 else { throw a.error(3, "option 'bits' must be 8 or 16, got \(bits)") }
                guard !(mask && bits == 16) else { throw a.error(3, "masks are 8-bit: give mask or bits = 16, not both") }
                try prefixed("write") {
                    if mask { try PNGImage.writeLabels(path: path, labels: t) } else { try PNGImage.write(path: path, tensor: t, bits: bits) }
                }
                return 0
            }),
            ("window", { a in
                let t = try a.tensor(1)
                let o = try LuaOptions(a, 2, names: ["center", "width"], required: true)
                guard let center = try o.number("center") else { throw a.error(2, "option 'center' is required") }
                guard let width = try o.number("width") else { throw a.error(2, "option 'width' is required") }
                return a.push(try prefixed("window") { try t.window(center: Float(center), width: Float(width)) })
            }),
            ("slices", { a in
                let volume = try a.tensor(1)
                guard volume.rank == 3 else {
                    throw a.error(1, "volume of size (Z, Y, X) expected, got size \(describeShape(volume.shape))")
                }
                let dim = try a.optionalDimension(2, rank: 3) ?? 0
                let slices = try prefixed("slices") { try NIfTI.slices(volume, axis: dim) }
                lua_createtable(a.L, Int32(slices.count), 0)
                for (k, s) in slices.enumerated() {
                    TensorBox.push(a.L, s)
                    lua_rawseti(a.L, -2, lua_Integer(k + 1))
                }
                return 1
            }),
            ("sheet", sheet),
        ])
    }

    private static func sheet(_ a: LuaArgs) throws -> Int32 {
        let o = try LuaOptions(a, 1, names: ["images", "labels", "masks", "boxes", "count", "columns", "padding", "scale"],
                               required: true)
        let L = a.L
        func tensorOption(_ name: String) throws -> Tensor? {
            let t = rawGetField(L, 1, name)
            defer { smia_pop(L, 1) }
            if t == LUA_TNIL { return nil }
            guard let value = TensorBox.get(L, -1) else {
                throw a.error(1, "option '\(name)': tensor expected, got \(luaTypeName(L, -1))")
            }
            return value
        }
        guard let images = try tensorOption("images") else { throw a.error(1, "option 'images' is required") }
        let labels = try tensorOption("labels")
        let masks = try tensorOption("masks")
        var boxes: [[Box]]? = nil
        if rawGetField(L, 1, "boxes") != LUA_TNIL {
            boxes = try BoxTables.read(L, -1, scored: false) { a.error(1, "option 'boxes': \($0)") }.map { $0.map(\.box) }
        }
        smia_pop(L, 1)
        let count = try o.integer("count")
        let sheet = try prefixed("sheet") {
            try SampleSheet.render(images: images, labels: labels, masks: masks, boxes: boxes, count: count,
                                   columns: o.integer("columns", default: 8), padding: o.integer("padding", default: 2),
                                   scale: o.integer("scale", default: 1))
        }
        return a.push(sheet)
    }

    /// Runs `body`, naming the Lua function in front of an engine error.
    static func prefixed<R>(_ name: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as TensorError {
            throw LuaError("\(name): \(error.message)")
        }
    }
}
