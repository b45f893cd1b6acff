import CLua
import CLuaShim
import Tensor
import Foundation

/// Swift objects in Lua: a userdata holding one retained pointer and the native bytes counted
/// for it (`NativeMemory`); `__gc` releases it and clears the pointer, so a second release (a
/// script calling `__gc` by hand) does nothing.
struct ObjectBox<Object: AnyObject> {
    let metatable: String

    private struct Slot {
        var object: UnsafeMutableRawPointer?
        var countedBytes: Int
    }

    func push(_ L: OpaquePointer, _ object: Object, countedBytes: Int = 0) {
        guard let slot = smia_newuserdata(L, MemoryLayout<Slot>.size) else {
            lua_pushnil(L)
            return
        }
        slot.storeBytes(of: Slot(object: Unmanaged.passRetained(object).toOpaque(), countedBytes: countedBytes), as: Slot.self)
        smia_getmetatable_named(L, metatable)
        lua_setmetatable(L, -2)
    }

    /// The object at `index`, or nil when the value is not one of ours or was released.
    func get(_ L: OpaquePointer, _ index: Int32) -> Object? {
        guard let slot = luaL_testudata(L, index, metatable),
              let pointer = slot.load(as: Slot.self).object else { return nil }
        return Unmanaged<Object>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Whether the value at `index` is our userdata whose object was already released.
    func isReleased(_ L: OpaquePointer, _ index: Int32) -> Bool {
        guard let slot = luaL_testudata(L, index, metatable) else { return false }
        return slot.load(as: Slot.self).object == nil
    }

    /// `__gc`: drops the reference (once); returns the bytes counted for it (0 the second time).
    @discardableResult
    func release(_ L: OpaquePointer, _ index: Int32) -> Int {
        guard let slot = luaL_testudata(L, index, metatable) else { return 0 }
        let held = slot.load(as: Slot.self)
        guard let pointer = held.object else { return 0 }
        slot.storeBytes(of: Slot(object: nil, countedBytes: 0), as: Slot.self)
        Unmanaged<Object>.fromOpaque(pointer).release()
        return held.countedBytes
    }
}

/// Tensors in Lua. Pushing a new tensor counts its native bytes (see `NativeMemory`).
enum TensorBox {
    static let metatable = "smia.Tensor"
    private static let box = ObjectBox<Tensor>(metatable: metatable)

    /// Pushes `t`. `fresh` says its values were just made for Lua (not a parameter handed out
    /// again), so they count as held by Lua until it collects the tensor, with the intermediate
    /// results its recorded history keeps alive (a model's activations behind its output).
    static func push(_ L: OpaquePointer, _ t: Tensor, fresh: Bool = true) {
        let bytes = fresh ? t.count * MemoryLayout<Float>.size + NativeMemory.objectOverhead + (t.needsGrad ? t.historyBytes : 0) : 0
        box.push(L, t, countedBytes: bytes)
        NativeMemory.allocated(bytes: bytes)
    }

    /// The tensor at `index`; a view comes up to date with its base first, so the kernels that
    /// read it see the base's current values.
    static func get(_ L: OpaquePointer, _ index: Int32) -> Tensor? { box.get(L, index)?.synchronized() }
    static func isReleased(_ L: OpaquePointer, _ index: Int32) -> Bool { box.isReleased(L, index) }
    static func release(_ L: OpaquePointer, _ index: Int32) { NativeMemory.released(bytes: box.release(L, index)) }
}

/// Modules (layers, containers, models) in Lua.
enum ModuleBox {
    static let metatable = "smia.Module"
    private static let box = ObjectBox<Module>(metatable: metatable)

    static func push(_ L: OpaquePointer, _ m: Module) { box.push(L, m) }
    static func get(_ L: OpaquePointer, _ index: Int32) -> Module? { box.get(L, index) }
    static func isReleased(_ L: OpaquePointer, _ index: Int32) -> Bool { box.isReleased(L, index) }
    static func release(_ L: OpaquePointer, _ index: Int32) { box.release(L, index) }
}

/// Lua's collector sees a few bytes per tensor userdata, not the values behind it. As Torch7
/// did, the bridge counts the native bytes Lua holds (tensors pushed and not yet collected) and
/// runs a full collection once they grew by `threshold` over their lowest since the last one,
/// so loops that make a tensor per iteration run in flat memory. Between those, a young
/// collection (the host runs Lua's generational mode) every `youngCollectionBytes` handed out
/// frees the tensors that died young, such as the result of a loop's previous call, while their
/// memory is still in the caches: the next tensor of that size reuses it, and full collections,
/// which traverse every Lua object, become rare. Eval-mode batch norm on 8x256x14x14 took 34 µs
/// instead of 58.
enum NativeMemory {
    /// Bytes a tensor costs beyond its values (the Swift object and array headers).
    static let objectOverhead = 128
    nonisolated(unsafe) static var threshold = 128 << 20
    /// Well inside a last-level cache; 4 and 16 MiB measured the same.
    static let youngCollectionBytes = 8 << 20
    /// Native bytes of the tensors Lua holds, dead or alive, as counted when pushed.
    nonisolated(unsafe) private(set) static var heldBytes = 0
    nonisolated(unsafe) private static var heldFloor = 0
    nonisolated(unsafe) private static var sinceYoungCollection = 0

    static func allocated(bytes: Int) {
        heldBytes += bytes
        sinceYoungCollection += bytes
    }

    /// Runs the collection that is due, as a native function starts: by then the script has put
    /// the previous call's results where it keeps them, so one it dropped (`local y = f(x)` in a
    /// loop overwrites y only after f returns) is already garbage and is freed before f's new
    /// result is allocated, which then takes its memory. Collected when pushed instead, such a
    /// result would still be in its variable, survive two young collections and turn old.
    @inline(__always)
    static func collectIfDue(_ L: OpaquePointer) {
        if heldBytes - heldFloor >= threshold {
            collect(L)
        } else if sinceYoungCollection >= youngCollectionBytes {
            sinceYoungCollection = 0
            smia_gc_step(L)
        }
    }

    static func released(bytes: Int) {
        heldBytes -= bytes
        heldFloor = min(heldFloor, heldBytes)
    }

    /// A full collection, then the freed memory handed back to the system only once the heap
    /// keeps more free than `BufferReuse` lets it: below that, the next attack step or forward
    /// pass allocates the same buffers again, and trimming earlier would make it fault in fresh
    /// pages (a ResNet-50 input gradient spent 40% of its time in the kernel doing that).
    static func collect(_ L: OpaquePointer) {
        sinceYoungCollection = 0
        smia_gc_collect(L)
        heldFloor = heldBytes
        smia_release_free_memory(max(2 * threshold, BufferReuse.keptFreeBytes))
    }

    /// Resident set size of the process in bytes (Linux: /proc/self/statm), or nil elsewhere.
    static func residentBytes() -> Int? {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
