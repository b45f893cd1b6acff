import Tensor

/// Samples of an `.npz` file's arrays (`ArrayDatasets.npz`), read a batch at a time (`NPZRows`):
/// nothing of the file is held between batches, so a data set larger than memory can be used.
/// Images (N, H, W), (N, H, W, C) or (N, C, H, W) come back C×H×W divided by `scale`; labels are
/// classes, (N) or (N, 1), or masks (N, H, W). The values were checked when the dataset was made.
public struct NPZSource: DatasetSource {
    let images: NPZRows
    let labels: NPZRows
    /// Images stored (N, H, W, C): transposed per sample.
    let channelsLast: Bool
    let channels: Int, height: Int, width: Int
    let scale: Float
    public let count: Int
    /// Names samples in messages: "\(origin)[i]" (1-based, as scripts count).
    let origin: String

    public func sample(_ index: Int) throws -> Sample {
        try samples([index])[0]
    }

    public func samples(_ indices: [Int]) throws -> [Sample] {
        var out: [Sample] = []
        out.reserveCapacity(indices.count)
        let plane = height * width, size = channels * plane
        for run in consecutiveRuns(indices) {
            let first = indices[run.lowerBound], n = run.count
            let pixels = try images.read(first: first, count: n)
            let targets = try labels.read(first: first, count: n)
            let perLabel = targets.count / n
            for k in 0 ..< n {
                var values = [Float](repeating: 0, count: size)
                for p in 0 ..< size {
                    // (C, H, W) position p from (H, W, C) position (p % plane) * channels + p / plane.
                    let from = channelsLast ? (p % plane) * channels + p / plane : p
                    values[p] = pixels[k * size + from] / scale
                }
                let image = try Tensor(shape: [channels, height, width], storage: values)
                let source = "\(origin)[\(first + k + 1)]"
                let target = Array(targets[k * perLabel ..< (k + 1) * perLabel])
                if perLabel == 1 {
                    out.append(Sample(image: image, target: .label(Int(target[0])), source: source))
                } else {
                    out.append(Sample(image: image, target: .mask(try Tensor(shape: [height, width], storage: target)), source: source))
                }
            }
        }
        return out
    }
}
