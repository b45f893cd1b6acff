import Foundation

/// The transformed filters of the last convolution gradients run by Winograd's method.
///
/// An attack runs the same weights at every step, and transforming a
/// layer's filters (16 values from each 3×3 filter) costs as much as a sizeable part of the
/// convolution itself for the deep layers. Entries are found by the weights' address and
/// checked against a copy of the weights they were made from, so a weight changed in place (an
/// optimizer step, loaded weights) or memory reused by another tensor never gives stale filters.
final class WinogradFilterCache: @unchecked Sendable {
    static let shared = WinogradFilterCache()

    private struct Key: Hashable {
        let address: Int
        let count: Int
    }

    private struct Entry {
        let weights: [Float]
        let filters: [Float]
        var bytes: Int { (weights.count + filters.count) * MemoryLayout<Float>.size }
    }

    private var entries: [Key: Entry] = [:]
    private var bytes = 0
    private let lock = NSLock()
    /// The most the cache holds: ResNet-50's wide 3×3 filters with their copies take about 50 MiB.
    private let limit = min(256 << 20, MemoryBudget.bytes / 8)

    /// `WinogradConvolution.transformedFilters` of `weight` (o × c filters of 3×3), made once
    /// per content.
    func filters(_ weight: UnsafePointer<Float>, outChannels o: Int, inChannels c: Int) -> [Float] {
        let count = o * c * 9
        let key = Key(address: Int(bitPattern: weight), count: count)
        lock.lock()
        let known = entries[key]
        lock.unlock()
        if let known, known.weights.withUnsafeBufferPointer({ memcmp($0.baseAddress!, weight, count * MemoryLayout<Float>.size) == 0 }) {
            return known.filters
        }
        let entry = Entry(weights: Array(UnsafeBufferPointer(start: weight, count: count)),
                          filters: WinogradConvolution.transformedFilters(weight, outChannels: o, inChannels: c))
        lock.lock()
        defer { lock.unlock() }
        if let old = entries.removeValue(forKey: key) { bytes -= old.bytes }
        if entry.bytes <= limit {
            if bytes + entry.bytes > limit {
                entries.removeAll()
                bytes = 0
            }
            entries[key] = entry
            bytes += entry.bytes
        }
        return entry.filters
    }
}
