// An owned, zero-initialised fp32 buffer with a stable address, for activations, parameters and gradients.
// Swift arrays move and copy on write; hot loops want one pointer that stays put for the buffer's life.
// A buffer can also be a view into a ScratchArena (no zeroing, freed with the arena), for per-pass temporaries.
import Foundation

public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// nil when this buffer owns `pointer`; otherwise the object that owns the memory (kept alive by the view).
    private let owner: AnyObject?

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        owner = nil
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    /// A view of `count` floats at `pointer` that keeps `owner` alive and never frees the memory itself.
    public init(view pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    deinit { if owner == nil { pointer.deallocate() } }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    public func zero() { pointer.update(repeating: 0, count: count) }
    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
