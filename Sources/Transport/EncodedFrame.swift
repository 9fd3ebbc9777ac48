// EncodedFrame: an immutable, already-serialized frame that any number of sends can share without a copy.
// The learner encodes each weights chunk once per version and hands the same bytes to every peer that asks;
// libzmq keeps a reference while a message sits in a peer's queue (zmq_msg_init_data), so a slow or hostile
// peer with many queued chunks costs a few bytes of bookkeeping each, not 4 MiB each.
// Not here: what the bytes mean (WireCodec) or who gets them (Cluster).
import CZeroMQ
import Foundation

public final class EncodedFrame: @unchecked Sendable { // immutable after init: safe to share across threads
    let pointer: UnsafeMutableRawPointer
    public let count: Int

    public init(_ data: Data) {
        count = data.count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, data.count), alignment: 16)
        data.withUnsafeBytes { if let base = $0.baseAddress { pointer.copyMemory(from: base, byteCount: data.count) } }
    }

    deinit { pointer.deallocate() }

    /// A copy of the bytes (tests and in-memory transports).
    public var data: Data { Data(bytes: pointer, count: count) }
}

/// libzmq calls this (on its I/O thread) when the last queued message referencing the frame is gone.
private let releaseFrame: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
    if let hint { Unmanaged<EncodedFrame>.fromOpaque(hint).release() }
}

extension ZMQSocket {
    /// Sends `head` frames (copied; small, e.g. a ROUTER peer address) followed by `frame` without copying it.
    /// - Returns: false if the peer's queue is full (high-water mark) and `dontWait`; nothing was sent then.
    @discardableResult
    public func send(head: [Data], shared frame: EncodedFrame, dontWait: Bool = true) throws -> Bool {
        let h = try liveHandle("send")
        var msgs: [zmq_msg_t] = []
        defer { for i in msgs.indices { zmq_msg_close(&msgs[i]) } }
        for part in head {
            var m = zmq_msg_t()
            guard zmq_msg_init_size(&m, part.count) == 0 else { throw TransportError.last("zmq_msg_init_size") }
            part.withUnsafeBytes {
                if let b = $0.baseAddress { zmq_msg_data(&m).copyMemory(from: b, byteCount: part.count) }
            }
            msgs.append(m)
        }
        var last = zmq_msg_t()
        let retained = Unmanaged.passRetained(frame).toOpaque()
        guard zmq_msg_init_data(&last, frame.pointer, frame.count, releaseFrame, retained) == 0 else {
            Unmanaged<EncodedFrame>.fromOpaque(retained).release()
            throw TransportError.last("zmq_msg_init_data")
        }
        msgs.append(last)
        for i in msgs.indices {
            var flags: Int32 = i < msgs.count - 1 ? ZMQ_SNDMORE : 0
            if dontWait && i == 0 { flags |= ZMQ_DONTWAIT } // only the first frame can meet the HWM (see sendFrames)
            while zmq_msg_send(&msgs[i], h, flags) < 0 {
                let e = zmq_errno()
                if e == EINTR { continue }
                if e == EAGAIN && i == 0 { return false }
                throw TransportError.last("send shared frame \(i + 1)/\(msgs.count) on \(kind)")
            }
            // A sent message belongs to libzmq now; re-initialise ours so the deferred close is a no-op.
            zmq_msg_init(&msgs[i])
        }
        return true
    }
}
