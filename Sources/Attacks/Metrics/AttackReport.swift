import Tensor

/// The figures of one attack run on one batch: what the model does on the adversarial images,
/// how large, smooth and consistent the perturbation is, and what the attack cost.
public struct AttackReport {
    public let task: AttackTask
    /// Per sample, whether the attack reached its goal (`AttackTask.success`).
    public let success: [Bool]
    /// Per sample, whether the model got it right before the attack: on the clean images the
    /// untargeted success condition does not hold (a classifier's prediction is the label, a
    /// segmenter's pixel accuracy is at least 0.5, a detector finds at least one true box). The
    /// samples `successRate` counts, as torchattacks and ART do.
    public let cleanCorrect: [Bool]
    /// Per sample, the share of predictions equal to the ground truth before and after the
    /// attack: 0 or 1 for a classifier, the pixel accuracy for a segmenter, the share of the true
    /// boxes detected (recall) for a detector.
    public let cleanAgreement: [Float]
    public let agreement: [Float]
    /// Per sample norms of η = x̃ − x.
    public let linf: [Float]
    public let l2: [Float]
    /// Means over the images (`PerturbationMetrics`).
    public let l0: Float
    public let variance: Float
    /// Nil without recorded updates (or with fewer than two).
    public let consistency: (mean: Float, positive: Float)?
    public let psnr: Float
    /// Nil for images not larger than SSIM's 11×11 window.
    public let ssim: Float?
    /// The same per image, for per-image results (`consistencyPerImage` NaN where an image has
    /// no cosine).
    public let l0PerImage: [Float]
    public let variancePerImage: [Float]
    public let consistencyPerImage: (mean: [Float], positive: [Float])?
    public let psnrPerImage: [Float]
    public let ssimPerImage: [Float]?
    /// The model's output on the adversarial images (unrecorded).
    public let output: Tensor
    public let forwards: Int
    public let gradients: Int
    public let seconds: Double
    /// Detection only: mAP at IoU 0.5 and the mean best box IoU (`DetectionMetrics.meanBestIoU`)
    /// of the default decoder's detections, before and after the attack.
    public let cleanMAP50: Float?
    public let map50: Float?
    public let cleanBoxIoU: Float?
    public let boxIoU: Float?

    /// Evaluates `result` against the clean images. `cleanOutput` is the model's output on
    /// `clean`; `labels` the ground truth; `targets` the classes of a targeted attack. Unless
    /// the attack gave its output on the adversarial images, the model runs once more, without
    /// recording, on them (not counted in `forwards`, which is the attack's own work).
    public init(model: Module, task: AttackTask, clean: Tensor, cleanOutput: Tensor, labels: Tensor, targets: Tensor?,
                result: AttackResult) throws {
        let adversarial = result.adversarial
        let output = try result.adversarialOutput ?? withoutGrad { try model(adversarial) }
        try task.check(output: output, labels: labels, op: "report")
        self.task = task
        self.output = output
        // A detector's outputs are decoded once each, for the agreement and the box metrics.
        let decoded = try task == .detection
            ? (truths: DetectionLabels.boxes(labels), before: DetectionDecoder().decode(DetectionTask.heads(cleanOutput)),
               after: DetectionDecoder().decode(DetectionTask.heads(output)))
            : nil
        if let decoded {
            cleanAgreement = try DetectionTask.agreement(found: decoded.before, truths: decoded.truths)
            agreement = try DetectionTask.agreement(found: decoded.after, truths: decoded.truths)
        } else {
            cleanAgreement = try task.agreement(cleanOutput, labels: labels)
            agreement = try task.agreement(output, labels: labels)
        }
        if let targets {
            success = try task.success(output, labels: targets, targeted: true)
        } else {
            success = task.success(agreement: agreement, targeted: false)
        }
        cleanCorrect = task.success(agreement: cleanAgreement, targeted: false).map { !$0 }
        let statistics = try PerturbationStatistics(clean: clean, adversarial: adversarial)
        (linf, l2) = (statistics.linf, statistics.l2)
        l0PerImage = statistics.l0
        variancePerImage = statistics.variance
        consistencyPerImage = try withoutGrad { try PerturbationMetrics.consistencyPerImage(updates: result.updates) }
        psnrPerImage = statistics.psnr
        ssimPerImage = clean.rank == 4 && clean.shape[2] > 11 && clean.shape[3] > 11
            ? try PerturbationMetrics.ssimPerImage(clean: clean, adversarial: adversarial) : nil
        l0 = Self.mean(l0PerImage)
        variance = Self.mean(variancePerImage)
        consistency = try withoutGrad { try PerturbationMetrics.consistency(updates: result.updates) }
        psnr = Self.mean(psnrPerImage)
        ssim = ssimPerImage.map(Self.mean)
        forwards = result.forwards
        gradients = result.gradients
        seconds = result.seconds
        if case let (truths, before, after)? = decoded {
            cleanMAP50 = try DetectionMetrics.meanAveragePrecision(detections: before, truths: truths).map
            map50 = try DetectionMetrics.meanAveragePrecision(detections: after, truths: truths).map
            cleanBoxIoU = try DetectionMetrics.meanBestIoU(detections: before, truths: truths)
            boxIoU = try DetectionMetrics.meanBestIoU(detections: after, truths: truths)
        } else {
            (cleanMAP50, map50, cleanBoxIoU, boxIoU) = (nil, nil, nil, nil)
        }
    }

    /// Share of the samples the model got right before the attack (`cleanCorrect`) where the
    /// attack reached its goal; nil when the model got none right.
    public var successRate: Float? {
        let counted = zip(success, cleanCorrect).filter { $0.1 }.map(\.0)
        return counted.isEmpty ? nil : mean(counted.map { $0 ? 1 : 0 })
    }
    /// How many samples `successRate` counts.
    public var cleanCorrectCount: Int { cleanCorrect.filter { $0 }.count }
    /// Accuracy (classifier) or pixel accuracy (segmenter) before and after the attack.
    public var cleanAccuracy: Float { mean(cleanAgreement) }
    public var accuracy: Float { mean(agreement) }
    public var meanLinf: Float { mean(linf) }
    public var meanL2: Float { mean(l2) }

    private func mean(_ values: [Float]) -> Float { Self.mean(values) }

    private static func mean(_ values: [Float]) -> Float {
        values.isEmpty ? 0 : values.reduce(0, +) / Float(values.count)
    }
}
