// The one seam between a data-parallel update and how its workers' gradients are summed: an in-process
// implementation (threads, tests) and an MPI one (ranks on several hosts) sit behind it, so the update works on
// "my share of the micro-batches" and neither it nor the protocol core knows how many workers there are.
public protocol GradientReducer: AnyObject {
    /// This worker's index in 0..<size; rank 0 is the one that runs the learner's sockets and writes checkpoints.
    var rank: Int { get }
    /// Number of workers (MPI ranks) that take part in every update.
    var size: Int { get }
    /// Replaces `buffer` on every worker by the element-wise sum over all workers' buffers. Sums in a fixed order
    /// (by rank), so the result does not depend on timing. Throws when a worker is gone.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// The same for double-precision statistics (loss sums, counts) that travel with a gradient.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
}

/// One worker: the sum is the buffer itself.
public final class SingleWorkerReducer: GradientReducer {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
}
