import Foundation

/// The mapped buffers oneDNN's blocked copies live in, kept between calls: a fresh mapping is
/// faulted in page by page, which was most of the kernel time of a ResNet-18 forward pass. The
/// pool keeps at most `keptBytes`, so a long evaluation's peak memory stays flat.
enum OneDNNBufferPool {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var kept: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    nonisolated(unsafe) private static var keptTotal = 0
    /// A quarter of the memory budget, at most 256 MiB.
    private static let keptBytes = Swift.min(MemoryBudget.bytes / 4, 256 << 20)

    /// A buffer of at least `bytes` (the smallest kept one that fits, else a new mapping) and its
    /// size, or nil when the system has no memory for it.
    static func take(_ bytes: Int) -> (pointer: UnsafeMutableRawPointer, bytes: Int)? {
        lock.lock()
        let fitting = kept.indices.filter { kept[$0].bytes >= bytes }.min { kept[$0].bytes < kept[$1].bytes }
        if let k = fitting {
            let buffer = kept.remove(at: k)
            keptTotal -= buffer.bytes
            lock.unlock()
            return buffer
        }
        lock.unlock()
        let size = Swift.max(bytes, 1)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return nil
        }
        return (p, size)
    }

    /// Gives a buffer back: kept for the next call while the pool has room, else unmapped.
    static func give(_ buffer: (pointer: UnsafeMutableRawPointer, bytes: Int)) {
        lock.lock()
        defer { lock.unlock() }
        guard keptTotal + buffer.bytes <= keptBytes else {
            munmap(buffer.pointer, buffer.bytes)
            return
        }
        kept.append(buffer)
        keptTotal += buffer.bytes
    }
}
