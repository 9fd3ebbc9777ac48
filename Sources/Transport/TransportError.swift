// Errors thrown by the Transport module: one type per layer, each with a message a person can act on.
// Not here: retry or recovery policy (the caller decides; Cluster answers peers with an Error message).
import CZeroMQ
#if canImport(Glibc)
    import Glibc
#endif

/// A ZeroMQ call failed. Carries the operation (e.g. "connect tcp://…") and libzmq's errno and text.
public struct TransportError: Error, CustomStringConvertible, Equatable {
    public let operation: String
    public let errno: Int32
    public let message: String

    public init(operation: String, errno: Int32, message: String) {
        self.operation = operation
        self.errno = errno
        self.message = message
    }

    /// Builds the error from zmq_errno() right after a failed call.
    static func last(_ operation: String) -> TransportError {
        let code = zmq_errno()
        return TransportError(operation: operation, errno: code, message: String(cString: zmq_strerror(code)))
    }

    /// The context was shut down or terminated: blocking calls return this so threads can exit.
    public var isContextTerminated: Bool { errno == ETERM }
    /// ROUTER with routerMandatory: the routing id names no connected peer.
    public var isHostUnreachable: Bool { errno == EHOSTUNREACH }

    public var description: String { "ZeroMQ \(operation) failed: \(message) (errno \(errno))" }
}

/// A frame could not be accepted as a SoftRL Envelope.
public enum WireError: Error, CustomStringConvertible, Equatable {
    case emptyFrame
    case tooLarge(bytes: Int, limit: Int)
    case notProtobuf(detail: String)
    case missingProtocolVersion
    case protocolMismatch(peer: UInt32, ours: UInt32)
    case emptyBody

    public var description: String {
        switch self {
        case .emptyFrame:
            return "empty frame: expected one serialized SoftRL Envelope"
        case let .tooLarge(bytes, limit):
            return "message of \(bytes) bytes exceeds the limit of \(limit) bytes"
        case let .notProtobuf(detail):
            return "not a SoftRL Envelope: bytes are not valid protobuf (\(detail))"
        case .missingProtocolVersion:
            return "not a SoftRL Envelope: protocol_version is missing (peer is not a SoftRL process, or sent garbage)"
        case let .protocolMismatch(peer, ours):
            let older = peer < ours ? "the peer" : "this process"
            return
                "peer speaks protocol \(peer), this build speaks \(ours): upgrade \(older) so both run the same SoftRL protocol"
        case .emptyBody:
            return "SoftRL Envelope has no body: empty, or a message kind this build does not know (newer peer?)"
        }
    }
}

/// A Tensor message does not describe a valid tensor, or values and shape disagree.
public enum TensorCodecError: Error, CustomStringConvertible, Equatable {
    case unsupportedDtype(String)
    case shapeOverflow(shape: [Int])
    case negativeDimension(shape: [Int])
    case countMismatch(shape: [Int], expectedElements: Int, actualElements: Int)
    case byteCountMismatch(shape: [Int], expectedBytes: Int, actualBytes: Int)

    public var description: String {
        switch self {
        case let .unsupportedDtype(d):
            return "tensor dtype \"\(d)\" is not supported: only \"f32\" is defined"
        case let .shapeOverflow(shape):
            return "tensor shape \(shape) has more elements than can be addressed"
        case let .negativeDimension(shape):
            return "tensor shape \(shape) has a negative dimension"
        case let .countMismatch(shape, expected, actual):
            return "tensor shape \(shape) needs \(expected) values, got \(actual)"
        case let .byteCountMismatch(shape, expected, actual):
            return "tensor shape \(shape) as f32 needs \(expected) bytes, data has \(actual)"
        }
    }
}

/// A chunked blob could not be split or reassembled.
public enum BlobError: Error, CustomStringConvertible, Equatable {
    case invalidChunkSize(Int)
    case chunkIndexOutOfRange(index: UInt64, count: UInt64)
    case wrongVersion(expected: UInt64, got: UInt64)
    case inconsistentChunk(index: UInt64, detail: String)
    case missingChunks([UInt64])
    case checksumMismatch(expected: String, actual: String)

    public var description: String {
        switch self {
        case let .invalidChunkSize(n):
            return "chunk size must be positive, got \(n)"
        case let .chunkIndexOutOfRange(index, count):
            return "chunk index \(index) is out of range for a blob of \(count) chunks"
        case let .wrongVersion(expected, got):
            return "chunk belongs to weights version \(got), expected version \(expected)"
        case let .inconsistentChunk(index, detail):
            return "chunk \(index) disagrees with earlier chunks: \(detail)"
        case let .missingChunks(list):
            let shown = list.prefix(10).map(String.init).joined(separator: ", ")
            return "blob incomplete: \(list.count) chunk(s) missing (\(shown)\(list.count > 10 ? ", …" : ""))"
        case let .checksumMismatch(expected, actual):
            return "blob SHA-256 is \(actual), expected \(expected): corrupted or mixed versions"
        }
    }
}
