import Foundation

/// Keeps the memory of freed tensors in the process for the next ones, instead of returning it
/// to the system after every operation.
///
/// An attack step allocates the same large buffers (activations, their gradients) as the step
/// before, just after freeing them. By default glibc maps buffers above 128 KiB (adaptively up
/// to 32 MiB) directly from the system and unmaps them when freed, and trims the freed top of
/// its heap, so each step pays again for zero-filled pages: on the small CNN of
/// `make bench-pytorch` PGD-10 took ten times the page faults of reused memory (468,000 against
/// 47,000 for three runs) and SMIA-10, whose batches of 2N pass 32 MiB, four times. Here every
/// buffer comes from the heap, and freed memory is kept up to the memory budget (`MemoryBudget`,
/// at most 2 GiB, the setting being an int): what the process holds beyond its live tensors
/// never exceeds what one tensor may take. The peak memory stays that of the live tensors.
public enum BufferReuse {
    /// Freed bytes the process keeps for reuse before handing memory back to the system: the
    /// memory budget, at most 2 GiB (glibc's setting is an int).
    public static let keptFreeBytes = Int(Int32(clamping: MemoryBudget.bytes))

    /// Call once at start-up, before the first tensor. Without glibc's `mallopt` (another C
    /// library) nothing changes.
    public static func enable() {
        // <malloc.h> is not part of Swift's Glibc module: the function is looked up, with its
        // option numbers from that header.
        typealias MallocOption = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: MallocOption.self)
        let trimThreshold: Int32 = -1, mmapMax: Int32 = -4
        _ = mallopt(mmapMax, 0)
        _ = mallopt(trimThreshold, Int32(keptFreeBytes))
    }
}
