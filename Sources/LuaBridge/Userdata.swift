import CLua
import CLuaShim
import Tensor
import Foundation

/// Swift objects in Lua: a userdata holding one retained pointer; `__gc` releases it and clears
/// the pointer, so a second release (a script calling `__gc` by hand) does nothing.
struct ObjectBox<Object: AnyObject> {
    let metatable: String

    func push(_ L: OpaquePointer, _ object: Object) {
        guard let slot = smia_newuserdata(L, MemoryLayout<UnsafeMutableRawPointer?>.size) else {
            lua_pushnil(L)
            return
        }
        slot.storeBytes(of: Unmanaged.passRetained(object).toOpaque(), as: UnsafeMutableRawPointer?.self)
        smia_getmetatable_named(L, metatable)
        lua_setmetatable(L, -2)
    }

    /// The object at `index`, or nil when the value is not one of ours or was released.
    func get(_ L: OpaquePointer, _ index: Int32) -> Object? {
        guard let slot = luaL_testudata(L, index, metatable),
              let pointer = slot.load(as: UnsafeMutableRawPointer?.self) else { return nil }
        return Unmanaged<Object>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// Whether the value at `index` is our userdata whose object was already released.
    func isReleased(_ L: OpaquePointer, _ index: Int32) -> Bool {
        guard let slot = luaL_testudata(L, index, metatable) else { return false }
        return slot.load(as: UnsafeMutableRawPointer?.self) == nil
    }

    /// `__gc`: drops the reference (once).
    func release(_ L: OpaquePointer, _ index: Int32) {
        guard let slot = luaL_testudata(L, index, metatable),
              let pointer = slot.load(as: UnsafeMutableRawPointer?.self) else { return }
        slot.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
        Unmanaged<Object>.fromOpaque(pointer).release()
    }
}

/// Tensors in Lua. Pushing a new tensor counts its native bytes (see `NativeMemory`).
enum TensorBox {
    static let metatable = "smia.Tensor"
    private static let box = ObjectBox<Tensor>(metatable: metatable)

    /// Pushes `t`. `fresh` says its values were just made for Lua (not a parameter handed out
    /// again), so they count towards the next forced collection, with the intermediate results
    /// its recorded history keeps alive (a model's activations behind its output).
    static func push(_ L: OpaquePointer, _ t: Tensor, fresh: Bool = true) {
        box.push(L, t)
        if fresh {
            let bytes = t.count * MemoryLayout<Float>.size + NativeMemory.objectOverhead
            NativeMemory.allocated(L, bytes: bytes + (t.needsGrad ? t.historyBytes : 0))
        }
    }

    /// The tensor at `index`; a view comes up to date with its base first, so the kernels that
    /// read it see the base's current values.
    static func get(_ L: OpaquePointer, _ index: Int32) -> Tensor? { box.get(L, index)?.synchronized() }
    static func isReleased(_ L: OpaquePointer, _ index: Int32) -> Bool { box.isReleased(L, index) }
    static func release(_ L: OpaquePointer, _ index: Int32) { box.release(L, index) }
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
/// did, the bridge counts the native bytes it hands to Lua and runs a full collection once
/// `threshold` bytes were handed out since the last one, so loops that make a tensor per
/// iteration run in flat memory.
enum NativeMemory {
    /// Bytes a tensor costs beyond its values (the Swift object and array headers).
    static let objectOverhead = 128
    nonisolated(unsafe) static var threshold = 128 << 20
    nonisolated(unsafe) private(set) static var sinceCollection = 0

    static func allocated(_ L: OpaquePointer, bytes: Int) {
        sinceCollection += bytes
        if sinceCollection >= threshold { collect(L) }
    }

    /// A full collection, then the freed memory handed back to the system only once the heap
    /// keeps more free than `BufferReuse` lets it: below that, the next attack step or forward
    /// pass allocates the same buffers again, and trimming earlier would make it fault in fresh
    /// pages (a ResNet-50 input gradient spent 40% of its time in the kernel doing that).
    static func collect(_ L: OpaquePointer) {
        sinceCollection = 0
        smia_gc_collect(L)
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
