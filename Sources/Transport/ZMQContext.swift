// ZMQContext: owns one libzmq context (its I/O threads). Thread-safe, as libzmq contexts are.
// Not a singleton: whoever needs sockets creates one and passes it on. Sockets keep their context
// alive, so the context is terminated only after the last socket is gone and never blocks on one.
import CZeroMQ
#if canImport(Glibc)
    import Glibc
#endif

public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: libzmq background I/O threads; one handles well over a gigabyte a second.
    public init(ioThreads: Int = 1) throws {
        guard let h = zmq_ctx_new() else { throw TransportError.last("zmq_ctx_new") }
        handle = h
        // ZMQ_IO_THREADS: sized for this process's traffic (default 1); must be set before the first socket.
        if zmq_ctx_set(h, ZMQ_IO_THREADS, Int32(ioThreads)) != 0 {
            let err = TransportError.last("zmq_ctx_set IO_THREADS=\(ioThreads)")
            zmq_ctx_term(h)
            throw err
        }
    }

    /// Makes every blocking call on this context's sockets fail with ETERM (`isContextTerminated`),
    /// so threads parked in receive/poll can exit. Sockets must still be closed afterwards.
    public func shutdown() {
        zmq_ctx_shutdown(handle) // idempotent; thread-safe like every context call
    }

    deinit {
        // No socket can be alive here (each retains the context), so zmq_ctx_term does not wait on any.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}
