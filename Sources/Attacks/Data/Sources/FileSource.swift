import Tensor

/// Samples read from PNG or DICOM files (`ImageFile`) when asked for: a user's own data
/// (`FileDatasets`). DICOM images go through `window` (nil: each file's own window, else the
/// range of its bit depth; see `DICOM.Window`). Images come back with the dataset's channel count: a file with another count is an error, unless the
/// dataset was made with `convert` (gray is repeated into R, G, B; RGB becomes gray by the
/// ITU-R 601 luma weights, as PIL's `convert("L")`).
public struct FileSource: DatasetSource {
    public enum FileTarget {
        case label(Int)
        /// A label PNG of the image's size (`PNGImage.readLabels`).
        case mask(path: String)
        case boxes([Box])
    }

    public struct Entry {
        public let image: String
        public let target: FileTarget
        /// Where the entry was declared (a CSV line), for messages; the image path otherwise.
        public let origin: String

        public init(image: String, target: FileTarget, origin: String? = nil) {
            self.image = image
            self.target = target
            self.origin = origin ?? image
        }
    }

    public let entries: [Entry]
    public let channels: Int
    public let convert: Bool
    public let window: DICOM.Window?
    /// The file the channel count came from, when it was not given.
    let channelSource: String

    /// `channels` nil: the first image's count, and no conversion.
    public init(entries: [Entry], channels: Int?, window: DICOM.Window? = nil) throws {
        self.entries = entries
        self.window = window
        if let channels {
            guard channels == 1 || channels == 3 else {
                throw TensorError("channels must be 1 or 3, got \(channels)")
            }
            self.channels = channels
            convert = true
            channelSource = ""
        } else {
            guard let first = entries.first else { throw TensorError("no images") }
            self.channels = try ImageFile.read(path: first.image, window: window).shape[0]
            convert = false
            channelSource = first.image
        }
    }

    public var count: Int { entries.count }

    public func file(_ index: Int) -> String? { entries[index].image }

    public func sample(_ index: Int) throws -> Sample {
        let e = entries[index]
        var image = try ImageFile.read(path: e.image, window: window)
        if image.shape[0] != channels {
            guard convert else {
                throw TensorError("'\(e.image)' has \(image.shape[0]) channel\(image.shape[0] == 1 ? "" : "s"), the dataset "
                    + "\(channels) (as its first image '\(channelSource)'); give channels = 1 or 3 to convert every image")
            }
            image = try convertChannels(image, to: channels)
        }
        switch e.target {
        case .label(let label):
            return Sample(image: image, target: .label(label), source: e.origin)
        case .boxes(let boxes):
            return Sample(image: image, target: .boxes(boxes), source: e.origin)
        case .mask(let path):
            let mask = try PNGImage.readLabels(path: path)
            guard mask.shape == Array(image.shape.dropFirst()) else {
                throw TensorError("mask '\(path)' is \(describeShape(mask.shape)), but its image '\(e.image)' is "
                    + "\(describeShape(Array(image.shape.dropFirst()))) (expected a mask of the image's size)")
            }
            return Sample(image: image, target: .mask(mask), source: path)
        }
    }
}

/// Gray (1, H, W) to RGB by repetition, RGB (3, H, W) to gray by luma.
func convertChannels(_ image: Tensor, to channels: Int) throws -> Tensor {
    let plane = image.shape[1] * image.shape[2]
    let v = image.storage
    if channels == 3 {
        return try Tensor(shape: [3, image.shape[1], image.shape[2]], storage: v + v + v)
    }
    var out = [Float](repeating: 0, count: plane)
    for p in 0 ..< plane { out[p] = 0.299 * v[p] + 0.587 * v[plane + p] + 0.114 * v[2 * plane + p] }
    return try Tensor(shape: [1, image.shape[1], image.shape[2]], storage: out)
}
