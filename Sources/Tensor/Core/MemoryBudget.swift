import Foundation

/// The most memory one tensor, one file read whole or one decompressed stream may take. Sizes
/// come from scripts and from files, so a typo or a corrupt header can ask for terabytes; every
/// such request is checked here (`checkedCount` for tensors, `Inflate` for streams, the file
/// readers through `maxTensorElements`) and refused with an error naming the size, before
/// anything is allocated, rather than letting the allocator abort the process.
///
/// `SMIA_MAX_BYTES` sets it (bytes, or with a suffix K, M, G or T, powers of 1024). Without it,
/// a quarter of the machine's physical memory, and at most a quarter of the address-space limit
/// (`ulimit -v`) when there is one: a budget per allocation, and a computation holds several.
public enum MemoryBudget {
    public static let bytes: Int = configured(getenv("SMIA_MAX_BYTES").map { String(cString: $0) })
        ?? defaultBytes()

    /// Throws unless `count` items of `itemBytes` bytes each fit the budget; `what` names the
    /// request ("tensor of size 3x4", "gzip data") in the message.
    public static func check(count: Int, itemBytes: Int, _ what: @autoclosure () -> String) throws {
        let (total, overflow) = count.multipliedReportingOverflow(by: itemBytes)
        guard count >= 0, !overflow, total <= bytes else {
            let size = overflow ? "more than \(describe(Int.max))" : describe(total)
            throw TensorError("\(what()) is too large: it needs \(size), more than the memory budget of "
                + "\(describe(bytes)) (SMIA_MAX_BYTES sets it)")
        }
    }

    /// The element count of a tensor of size `shape`, which must fit the budget as float32.
    public static func elementCount(_ shape: [Int]) throws -> Int { try checkedCount(shape) }

    /// "8.0 GiB", "512 bytes".
    public static func describe(_ bytes: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        guard bytes >= 1024 else { return "\(bytes) bytes" }
        var value = Double(bytes), unit = -1
        while value >= 1024, unit + 1 < units.count { value /= 1024; unit += 1 }
        return "\((value * 10).rounded() / 10) \(units[unit]) (\(bytes) bytes)"
    }

    /// A byte count as SMIA_MAX_BYTES gives it; nil for anything else (the default then applies).
    static func configured(_ text: String?) -> Int? {
        guard var text = text?.trimmingCharacters(in: .whitespaces).uppercased(), !text.isEmpty else { return nil }
        if text.hasSuffix("B") { text.removeLast() }
        let shifts: [Character: Int] = ["K": 10, "M": 20, "G": 30, "T": 40]
        var shift = 0
        if let last = text.last, let s = shifts[last] { shift = s; text.removeLast() }
        guard let value = Int(text), value > 0, value <= Int.max >> shift else { return nil }
        return value << shift
    }

    private static func defaultBytes() -> Int {
        let pages = Int(sysconf(Int32(_SC_PHYS_PAGES))), pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        var budget = pages > 0 && pageSize > 0 ? pages.multipliedReportingOverflow(by: pageSize).partialValue / 4 : 1 << 30
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            budget = min(budget, Int(clamping: limit.rlim_cur / 4))
        }
        return max(budget, 1 << 20)
    }
}
