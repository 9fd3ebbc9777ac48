// WireCodec: turns one message body into one ZeroMQ frame (a serialized Envelope) and back, and
// refuses anything that is not a well-formed Envelope of this build's protocol version.
// Not here: sockets, routing ids, or what a message means to the learner or an actor.
import Foundation
import SwiftProtobuf

/// The only top-level wire message (generated from proto/softrl.proto).
public typealias Envelope = Softrl_V1_Envelope

/// Short names for the generated wire types: `Wire.Hello` instead of `Softrl_V1_Hello`.
/// A namespace rather than top-level aliases so `Wire.Tensor` / `Wire.Error` never clash with
/// TensorMath's tensors or Swift.Error.
public enum Wire {
    public typealias Envelope = Softrl_V1_Envelope
    public typealias Body = Softrl_V1_Envelope.OneOf_Body
    public typealias Tensor = Softrl_V1_Tensor
    public typealias Hello = Softrl_V1_Hello
    public typealias Welcome = Softrl_V1_Welcome
    public typealias Heartbeat = Softrl_V1_Heartbeat
    public typealias Goodbye = Softrl_V1_Goodbye
    public typealias Error = Softrl_V1_Error
    public typealias WorkRequest = Softrl_V1_WorkRequest
    public typealias WorkItem = Softrl_V1_WorkItem
    public typealias Work = Softrl_V1_Work
    public typealias Step = Softrl_V1_Step
    public typealias Rollout = Softrl_V1_Rollout
    public typealias RolloutTimings = Softrl_V1_RolloutTimings
    public typealias RolloutGroup = Softrl_V1_RolloutGroup
    public typealias VersionNotice = Softrl_V1_VersionNotice
    public typealias FetchWeights = Softrl_V1_FetchWeights
    public typealias WeightsChunk = Softrl_V1_WeightsChunk

    /// Values of `Wire.Error.code` (documented in softrl.proto).
    public enum ErrorCode: UInt32 {
        case protocolMismatch = 1
        case malformed = 2
        case unknownActor = 3
        case badRequest = 4
        case `internal` = 5
        case duplicateActor = 6
        case resultRejected = 7
    }
}

/// Encodes bodies into Envelope frames with this build's protocol version and a per-codec sequence,
/// and decodes frames with validation. One codec per sending endpoint (the sequence is per sender).
/// A value type: not shared between threads.
public struct WireCodec {
    /// Bump when a change to softrl.proto is one that older peers cannot understand.
    public static let protocolVersion: UInt32 = 1
    /// Default cap for one frame in either direction; set the sockets' maxMessageSize to match.
    public static let defaultMaxMessageBytes = 64 << 20

    public let maxMessageBytes: Int
    /// Sequence number of the last encoded envelope (0 before the first).
    public private(set) var lastSequence: UInt64 = 0

    public init(maxMessageBytes: Int = WireCodec.defaultMaxMessageBytes) {
        self.maxMessageBytes = maxMessageBytes
    }

    /// Wraps `body` in an Envelope (protocol version, next sequence) and serializes it.
    /// - Throws: WireError.tooLarge if the frame would exceed maxMessageBytes (the peer would drop it).
    public mutating func encode(_ body: Envelope.OneOf_Body) throws -> Data {
        var envelope = Envelope()
        envelope.protocolVersion = Self.protocolVersion
        envelope.sequence = lastSequence &+ 1
        envelope.body = body
        let data: Data = try envelope.serializedBytes()
        guard data.count <= maxMessageBytes else {
            throw WireError.tooLarge(bytes: data.count, limit: maxMessageBytes)
        }
        lastSequence &+= 1 // only messages actually produced consume a number
        return data
    }

    /// Parses and validates one frame. Never traps on hostile input.
    /// - Throws: WireError: empty frame, too large, not protobuf, missing/mismatched protocol version, no body.
    public func decode(_ data: Data) throws -> Envelope {
        guard !data.isEmpty else { throw WireError.emptyFrame }
        guard data.count <= maxMessageBytes else {
            throw WireError.tooLarge(bytes: data.count, limit: maxMessageBytes)
        }
        let envelope: Envelope
        do {
            envelope = try ChunkFrameReader.read(data) ?? Envelope(serializedBytes: data)
        } catch {
            throw WireError.notProtobuf(detail: String(describing: error))
        }
        // Version first: a peer of another version may legitimately have a body we cannot read.
        guard envelope.protocolVersion != 0 else { throw WireError.missingProtocolVersion }
        guard envelope.protocolVersion == Self.protocolVersion else {
            throw WireError.protocolMismatch(peer: envelope.protocolVersion, ours: Self.protocolVersion)
        }
        guard envelope.body != nil else { throw WireError.emptyBody }
        return envelope
    }
}
