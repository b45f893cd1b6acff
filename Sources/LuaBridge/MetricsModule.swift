import Attacks
import CLua
import CLuaShim
import Tensor

/// `smia.metrics`: task metrics, as fractions. Predictions are labels or scores (the class
/// dimension second: (N, K), (N, K, H, W)); targets are labels.
///
/// - `accuracy(pred, y)`; `confusion(pred, y[, {classes = K}])` → K×K tensor, rows the true
///   class, columns the predicted one; `fpr(pred, y)`: the fraction of grade-0 images predicted
///   with a grade above 0 (nil when no image is of grade 0).
/// - `pixel_accuracy(pred, masks)`; `iou(pred, masks[, {classes = {1, 2}}])` (also `jaccard`) and
///   `dice(...)` → the mean over `classes` (or every class present), and a table class → value
///   keyed by the class label (0-based, as stored); pixels are pooled over the whole set.
/// - `box_iou(a, b)` for two boxes `{x1, y1, x2, y2}`; `map(detections, truths[, {iou = 0.5}])`
///   → VOC mAP (all-point interpolation) and a table class → AP, for lists (one per image) of
///   detections `{x1, y1, x2, y2, class, score}` and of true boxes `{x1, y1, x2, y2, class}`;
///   `mean_box_iou(detections, truths)` → the mean over the true boxes of the best IoU with a
///   detection of the same class in the same image (0 without one; NaN without true boxes).
enum MetricsBindings {
    static func open(_ L: OpaquePointer) {
        lua_createtable(L, 0, 9)
        setFunctions(L, prefix: "metrics.", [
            ("accuracy", { a in
                let (p, y) = try pair(a)
                return a.push(Double(try run(a) { try ClassificationMetrics.accuracy(p, y) }))
            }),
            ("confusion", { a in
                let (p, y) = try pair(a)
                let o = try LuaOptions(a, 3, names: ["classes"])
                let k = o.index == nil ? nil : try o.integer("classes")
                if let k, k < 1 { throw a.error(3, "option 'classes': must be positive, got \(k)") }
                let counts = try run(a) { try ClassificationMetrics.confusion(p, y, classes: k) }
                return a.push(try Tensor(shape: [counts.count, counts.count], storage: counts.flatMap { $0.map(Float.init) }))
            }),
            ("fpr", { a in
                let (p, y) = try pair(a)
                guard let v = try run(a, { try ClassificationMetrics.falsePositiveRate(p, y) }) else {
                    lua_pushnil(a.L)
                    return 1
                }
                return a.push(Double(v))
            }),
            ("pixel_accuracy", { a in
                let (p, y) = try pair(a)
                return a.push(Double(try run(a) { try SegmentationMetrics.pixelAccuracy(p, y) }))
            }),
            ("iou", overlapMetric(SegmentationMetrics.iou)),
            ("jaccard", overlapMetric(SegmentationMetrics.iou)),
            ("dice", overlapMetric(SegmentationMetrics.dice)),
            ("box_iou", { a in
                let boxes = try [Int32(1), 2].map { i in
                    try BoxTables.detection(a.L, i, scored: false, requireClass: false) { a.error(i, $0) }.box
                }
                return a.push(Double(boxes[0].iou(boxes[1])))
            }),
            ("mean_box_iou", { a in
                let detections = try BoxTables.read(a, 1, scored: false)
                let truths = try BoxTables.read(a, 2, scored: false).map { $0.map(\.box) }
                try a.checkNoMore(than: 2)
                return a.push(Double(try run(a) { try DetectionMetrics.meanBestIoU(detections: detections, truths: truths) }))
            }),
            ("map", { a in
                let detections = try BoxTables.read(a, 1, scored: true)
                let truths = try BoxTables.read(a, 2, scored: false).map { $0.map(\.box) }
                let o = try LuaOptions(a, 3, names: ["iou"])
                let threshold = Float(try o.number("iou", default: 0.5))
                let result = try run(a) {
                    try DetectionMetrics.meanAveragePrecision(detections: detections, truths: truths, iouThreshold: threshold)
                }
                a.push(Double(result.map))
                pushPerClass(a.L, result.perClass)
                return 2
            }),
        ])
    }

    private static func pair(_ a: LuaArgs) throws -> (Tensor, Tensor) {
        (try a.tensor(1), try a.tensor(2))
    }

    /// Engine errors already start with the metric's name.
    private static func run<R>(_ a: LuaArgs, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as TensorError {
            throw LuaError(error.message)
        }
    }

    private static func overlapMetric(_ metric: @escaping (Tensor, Tensor, [Int]?) throws -> SegmentationMetrics.PerClass) -> LuaBody {
        { a in
            let (p, y) = try pair(a)
            let o = try LuaOptions(a, 3, names: ["classes"])
            var classes: [Int]? = nil
            if let i = o.index, rawGetField(a.L, i, "classes") != LUA_TNIL {
                let n = lua_type(a.L, -1) == LUA_TTABLE ? Int(lua_rawlen(a.L, -1)) : 0
                guard n >= 1 else {
                    throw a.error(i, "option 'classes': a list of class labels expected, got \(describeValue(a.L, -1))")
                }
                classes = []
                for k in 1 ... n {
                    lua_rawgeti(a.L, -1, lua_Integer(k))
                    let c = integerValue(a.L, -1)
                    smia_pop(a.L, 1)
                    guard let c, c >= 0 else { throw a.error(i, "option 'classes': entry \(k) is not a class label (integer >= 0)") }
                    classes?.append(c)
                }
                smia_pop(a.L, 1)
            }
            let result = try run(a) { try metric(p, y, classes) }
            a.push(Double(result.mean))
            pushPerClass(a.L, result.perClass)
            return 2
        }
    }

    private static func pushPerClass(_ L: OpaquePointer, _ values: [Int: Float]) {
        lua_createtable(L, 0, Int32(values.count))
        for (c, v) in values {
            lua_pushnumber(L, Double(v))
            lua_rawseti(L, -2, lua_Integer(c))
        }
    }
}
