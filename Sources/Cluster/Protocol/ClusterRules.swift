// One home for the cluster's timing, size and fairness rules. The protocol cores (LearnerCore, ActorSession)
// and the socket shells read them here; Welcome carries the ones an actor must obey, so the two sides never
// disagree (before: the learner stopped frames at 64 MiB while the actor's socket accepted 256 MiB).
import Foundation
import SoftTokens
import Transport

public struct ClusterRules: Sendable, Equatable {
    /// Heartbeat period both ways (zguide ppworker: 1 s).
    public var heartbeatIntervalMs = 1000
    /// Silent heartbeat periods before a peer is presumed dead and its work re-issued (zguide: 3-5).
    public var liveness = 5
    /// Largest frame either side accepts (ZMQ_MAXMSGSIZE on both sockets and the codecs' limit).
    public var maxMessageBytes = WireCodec.defaultMaxMessageBytes
    /// An item not returned within this many seconds is re-issued even if its actor still heartbeats.
    public var workTimeoutSeconds = 300.0
    /// While the learner waits for data and an actor is idle, work held longer than this many times the median
    /// group time (and at least `minSpeculateSeconds`) is also given to the idle actor; the first result wins.
    /// A hoarding or stuck peer then delays an update by seconds, not by the 300 s deadline.
    public var speculateFactor = 4.0
    public var minSpeculateSeconds = 10.0
    /// Weights chunk size: large enough that per-message overhead is negligible, far below the frame limit.
    public var chunkBytes = BlobChunker.defaultChunkBytes
    /// Chunk requests an actor keeps in flight: one at a time leaves the link idle for a round trip per chunk.
    public static let fetchWindow = 4
    /// A restarted actor refused as the twin of its dead self says Hello again this long after the learner's
    /// retry_after_ms: the learner's reaper runs on its ticks (every poll, well under this).
    public static let twinRetryMarginSeconds = 0.25
    /// Relay fan-out: receivers the learner, and each relaying actor, serve a version to (RelayTree); 0 = relays
    /// off. 4 keeps every node's uplink busy with 4 copies while the tree for 1,024 actors is 5 hops deep.
    public var relayFanout = 4
    /// A relay that sends nothing for this long (no chunk, no heartbeat while it waits for its own parent) is left for
    /// the next source (its parent, then the learner); one that heartbeats but sends no chunk for (maxSources + 1)
    /// times this long is left too.
    public var relayStallSeconds = 3.0
    /// Versions for which an actor skips a relay that failed it (ActorSession.failedRelays).
    public static let relayMemoryVersions = 20
    /// A connection must say Hello this soon after it is accepted, or the learner closes it (an actor says Hello the
    /// moment it connects; a silent connection only holds a file descriptor). 0 = no deadline.
    public var helloDeadlineSeconds = 10.0
    /// An actor whose groups' mean |learner - behaviour| log-prob per action exceeds this (nats) is named in a
    /// warning (ActorAgreement): honest actors sit at 1e-6 to 1e-2, a peer with another sampler was at 0.47.
    public var logProbGapWarning = 0.1

    public init() {}

    /// Silence after which a peer is presumed dead.
    public var silenceLimitSeconds: Double { Double(heartbeatIntervalMs * liveness) / 1000 }
    public var heartbeatSeconds: Double { Double(heartbeatIntervalMs) / 1000 }

    /// Most groups one actor may hold at once, whatever it announces (a bound on what one peer can take).
    public static let maxSlotsPerActor = 64
    /// Items an actor without a record of returned work may hold (LearnerCore.WindowShares): enough to earn one.
    public static let probationItems = 1
    /// Hello.actor_id length limit (it appears in logs, metrics labels and file names).
    public static let maxActorIdBytes = 128
    /// Hello.relay_endpoint length limit.
    public static let maxEndpointBytes = 256
    /// Warnings logged per peer (host) per minute, and in all per minute; the rest are counted and summarised.
    public static let warningsPerPeerPerMinute = 5
    public static let warningsPerMinute = 100
    /// Join / leave lines logged one by one per minute; the rest are summarised once a minute.
    public static let sessionLinesPerMinute = 20
    /// A relay with a record of delivery is demoted after this many failed children in a row (one without a record at
    /// its first).
    public static let relayFailuresToDemote = 2
    /// Drops of one work item (actors that cannot do it: Error 7 from the actor) before its prompt is quarantined.
    public static let dropsBeforeQuarantine = 3

    /// Prompt tokens a rollout may start with: the model's positions minus the thinking limit, one end-of-thinking
    /// step and the answer limit (the generator cannot make a longer rollout; one home for the actor's check of each
    /// item and the learner's check of every problem at start).
    public static func promptRoom(maxPositions: Int, sampler: SamplerConfig) -> Int {
        maxPositions - sampler.maxThinkingSteps - 1 - sampler.maxAnswerTokens
    }
    /// Messages queued per peer for sending: weights chunks are shared, zero-copy frames, so this bounds
    /// bookkeeping, not megabytes; a peer that stops reading loses messages beyond it (it re-asks).
    public static let sendHighWaterMark = 1000
    /// Messages a relay queues per child: twice the fetch window (an honest child has at most that many chunk
    /// requests in flight, plus heartbeats). Beyond it a child that does not read loses messages (it re-asks).
    public static let relaySendHighWaterMark = 2 * fetchWindow
    /// Descriptors the learner keeps free for checkpoints, logs and the metrics endpoint: a connection accepted past
    /// the open-file limit minus this is closed at once (a checkpoint opens a handful of files; logs and scrapes a few).
    public static let descriptorReserve = 64
    /// Longest the learner's loop spends taking messages before it ticks (heartbeats, deadlines, dispatch).
    public static let receiveSliceSeconds = 0.05
    /// Messages queued per peer for receiving before libzmq stops reading that peer's connection.
    public static let receiveHighWaterMark = 1000
    /// TCP keepalive: a half-open link to a vanished host is closed after about 10 + 2 * 5 = 20 s of silence.
    /// (ZMTP heartbeats would do it too, but libzmq 4.3.4 aborts the process when one fires on a stopped,
    /// then closed, connection: the remote crash.)
    public static let keepaliveIdleSeconds = 10, keepaliveIntervalSeconds = 2, keepaliveCount = 5
    /// Largest model (parameters, and rotary-table floats) an actor builds from a Welcome's model_config_json:
    /// 2^31 floats, 8 GiB. A config past it, or one that does not validate, is refused before any allocation
    /// (fuzzing found a Welcome that made the actor trap on overflow, or loop for ever building the layout).
    public static let maxModelParameters = 1 << 31
}
