// Recycled scratch memory for per-pass activations and temporaries.
// Why: a training step of the `small` model allocates ~220 MB of activations. Fresh large allocations are mmap'd by
// malloc, so every step paid for page faults, the kernel zeroing the pages, our own zeroing, and munmap (~18% of a
// `tiny` step in perf). An arena takes one block from a process-wide cache and slices it; when the arena dies the
// block goes back to the cache and the next pass of the same shape reuses it with its pages already mapped.
// Slices are NOT zeroed: callers must write before they read (or call zero()).
import Foundation

public final class ScratchArena: @unchecked Sendable {
    public let capacity: Int
    private let base: UnsafeMutablePointer<Float>
    private var used = 0

    /// An arena able to hold at least `floats` floats (each slice is padded to 64 bytes).
    public init(floats: Int) {
        (base, capacity) = ScratchBlockCache.shared.take(max(floats, 16))
    }

    deinit { ScratchBlockCache.shared.give(base, capacity) }

    /// Floats a slice of `count` takes, with its padding to a 64-byte boundary (cache line, and AVX-friendly).
    @inline(__always) public static func padded(_ count: Int) -> Int { (max(count, 1) + 15) & ~15 }

    /// The next `count` floats, uninitialised. Traps if the arena was sized too small (a programming error).
    public func slice(_ count: Int) -> FloatBuffer {
        let n = Self.padded(count)
        precondition(used + n <= capacity, "scratch arena overflow: sized \(capacity) floats, need \(used + n)")
        let p = base + used
        used += n
        return FloatBuffer(view: p, count: count, owner: self)
    }

    /// The next `count` floats, zeroed.
    public func zeroedSlice(_ count: Int) -> FloatBuffer {
        let b = slice(count); b.zero(); return b
    }
}

/// The process-wide cache of scratch blocks behind ScratchArena. Blocks are reused best-fit (smallest block that is
/// large enough and not more than twice the request); requests are rounded up to 1/8 of their power of two so
/// passes of slightly different lengths share blocks. Holds at most `maxCachedBytes`, dropping the oldest first.
public final class ScratchBlockCache: @unchecked Sendable {
    public static let shared = ScratchBlockCache()
    /// Upper bound on memory kept for reuse (not on memory in use).
    public var maxCachedBytes: Int {
        get { lock.lock(); defer { lock.unlock() }; return maxBytes }
        set { lock.lock(); maxBytes = newValue; trim(); lock.unlock() }
    }

    private let lock = NSLock()
    private var maxBytes = 768 << 20
    private var blocks: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = [] // oldest first
    private var cachedFloats = 0

    static func rounded(_ n: Int) -> Int {
        if n <= 1 << 12 { return (n + 15) & ~15 }
        let top = Int.bitWidth - n.leadingZeroBitCount - 1 // 2^top <= n
        let step = 1 << (top - 3)
        return (n + step - 1) / step * step
    }

    func take(_ floats: Int) -> (UnsafeMutablePointer<Float>, Int) {
        let want = Self.rounded(floats)
        lock.lock()
        var best = -1
        for (i, b) in blocks.enumerated() where b.capacity >= want && b.capacity <= 2 * want {
            if best < 0 || b.capacity < blocks[best].capacity { best = i }
        }
        if best >= 0 {
            let b = blocks.remove(at: best)
            cachedFloats -= b.capacity
            lock.unlock()
            return (b.pointer, b.capacity)
        }
        lock.unlock()
        // 64-byte alignment so every padded slice starts on a cache line.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: want * 4, alignment: 64)
        return (raw.bindMemory(to: Float.self, capacity: want), want)
    }

    func give(_ p: UnsafeMutablePointer<Float>, _ capacity: Int) {
        lock.lock()
        blocks.append((p, capacity))
        cachedFloats += capacity
        trim()
        lock.unlock()
    }

    private func trim() {
        while cachedFloats * 4 > maxBytes, !blocks.isEmpty {
            let b = blocks.removeFirst()
            cachedFloats -= b.capacity
            UnsafeMutableRawPointer(b.pointer).deallocate()
        }
    }

    /// Frees every cached block (e.g. after a phase that used much more memory than what follows).
    public func purge() {
        lock.lock()
        let saved = maxBytes
        maxBytes = 0; trim(); maxBytes = saved
        lock.unlock()
    }
}
