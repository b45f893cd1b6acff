import Foundation
import Tensor

/// A detector's heatmap cells as DAG targets (`TargetScorer`): per image a fixed list of cells
/// (y · w + x on the heads' map), each scored over C + 1 classes, the C heatmap logits at the
/// cell and a constant background score, the logit of the decoder's default threshold 0.3. A
/// target is predicted as its class while that class's logit is the largest of the C + 1, so
/// (for one class, and nearly for several) while the cell would still pass the decoder's
/// threshold; pushing it to the background class pushes the class logit below the threshold.
/// The model must output the concatenated heads (`Detector.forward`).
public struct DetectionTargets: TargetScorer {
    public let model: Module
    public let numClasses: Int
    /// Per image of the attacked batch, the cells attacked, all lists of one length T.
    public let cells: [[Int]]
    /// logit(0.3): sigmoid of it is the decoder's default score threshold.
    public static let backgroundLogit = Float(Foundation.log(0.3 / 0.7))

    public init(model: Module, numClasses: Int, cells: [[Int]]) {
        self.model = model
        self.numClasses = numClasses
        self.cells = cells
    }

    public func scores(output: Tensor, samples: [Int]) throws -> Tensor {
        guard output.rank == 4, output.shape[1] == numClasses + 4 else {
            throw TensorError("dag: a detector with \(numClasses) classes must output (N, \(numClasses + 4), h, w) heads, got size \(describeShape(output.shape))")
        }
        let n = output.shape[0], plane = output.shape[2] * output.shape[3]
        let t = cells.first?.count ?? 0
        let heat = try output.slice(dim: 1, start: 0, end: numClasses).reshaped([n, numClasses, plane])
        let background = try Tensor.full([1, t], DetectionTargets.backgroundLogit)
        var perImage: [Tensor] = []
        for (i, sample) in samples.enumerated() {
            guard sample >= 0, sample < cells.count, cells[sample].allSatisfy({ $0 >= 0 && $0 < plane }) else {
                throw TensorError("dag: no target cells for image \(sample + 1) on a \(output.shape[2])x\(output.shape[3]) map")
            }
            let indices = try Tensor(shape: [t], storage: cells[sample].map(Float.init))
            let picked = try heat.select(dim: 0, index: i).indexSelect(dim: 1, indices: indices)
            perImage.append(try Tensor.cat([picked, background], dim: 0))
        }
        return try Tensor.stack(perImage, dim: 0)
    }
}

extension DAG {
    /// DAG on a detector (Xie et al. 2017 attack a detector's proposals; here its heatmap
    /// cells). `model` outputs the concatenated heads, `labels` are the true boxes (N, M, 5)
    /// (`DetectionLabels`). The targets of an image are the cells around what it detects: for
    /// every detection of the default decoder on the clean image that finds a true box (same
    /// class, IoU ≥ 0.5), its peak cell and the 8 cells around it (a neighbour could take over
    /// the peak), each with the detection's class as its true label. The adversarial label is
    /// the runner-up among the other classes and the background (`DetectionTargets`), or the
    /// background for a one-class detector. A target stays active while its class still wins
    /// at its cell; an image stops when none is left, as for a segmenter. Targeted DAG,
    /// `ignoreIndex` and given adversarial labels are not defined for detection.
    /// The clean pass the targets come from is also the first iteration's forward pass.
    public func run(detector model: Module, images: Tensor, labels: Tensor) throws -> AttackResult {
        try validate()
        guard !targeted else { throw TensorError("dag: targeted attacks are not defined for detection") }
        guard ignoreIndex == nil else { throw TensorError("dag: ignore_index does not apply to a detector") }
        if case .given = adversarialLabels { throw TensorError("dag: adversarial labels cannot be given for a detector") }
        try checkImageBatch(images, op: "dag")
        let start = images.detached()
        start.requiresGrad = true
        let recorded = try model(start)
        let output = recorded.detached()
        try AttackTask.detection.check(output: output, labels: labels, op: "dag")
        let c = output.shape[1] - 4, h = output.shape[2], w = output.shape[3], plane = h * w
        let truths = try DetectionLabels.boxes(labels)
        let found = try DetectionDecoder().decodePeaks(DetectionTask.heads(output))
        var targets: [[(cell: Int, label: Int)]] = []
        for (detections, boxes) in zip(found, truths) {
            var list: [(cell: Int, label: Int)] = []
            for (detection, peak) in detections where boxes.contains(where: { DetectionTask.isDetected($0, by: [detection]) }) {
                let cls = peak / plane, y = (peak % plane) / w, x = peak % w
                for yy in Swift.max(y - 1, 0)...Swift.min(y + 1, h - 1) {
                    for xx in Swift.max(x - 1, 0)...Swift.min(x + 1, w - 1) where !list.contains(where: { $0.cell == yy * w + xx && $0.label == cls }) {
                        list.append((yy * w + xx, cls))
                    }
                }
            }
            targets.append(list)
        }
        let t = Swift.max(targets.map(\.count).max() ?? 0, 1)
        let cells = targets.map { list in list.map(\.cell) + [Int](repeating: 0, count: t - list.count) }
        let classes = targets.flatMap { list in list.map { Float($0.label) } + [Float](repeating: -1, count: t - list.count) }
        var attack = self
        attack.ignoreIndex = -1
        return try attack.run(scorer: DetectionTargets(model: model, numClasses: c, cells: cells), images: images,
                              labels: Tensor(shape: [images.shape[0], t], storage: classes), cleanForward: (start, recorded))
    }
}
