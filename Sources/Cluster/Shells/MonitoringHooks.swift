// Plain values the learner and actor services hand to whoever observes them (the Monitoring module, wired by the
// executable): what an operator needs to see, with no reference to service internals. The services call the
// hook closures at a few places marked `// MONITORING HOOK`; a nil closure costs nothing. Cluster never imports
// Monitoring: the dependency stays one-way.
import Foundation

/// One connected actor as the learner sees it, sampled once per heartbeat period.
public struct ActorStatus: Sendable, Equatable {
    public var id: String
    public var host: String
    /// Slots the actor reported busy in its last heartbeat.
    public var busySlots: Int
    /// Slots the actor announced in its hello.
    public var slots: Int
    /// Policy version the actor reported generating with (its last heartbeat).
    public var policyVersion: Int
    /// Seconds since the learner last heard from it.
    public var secondsSinceSeen: Double
    public init(id: String, host: String, busySlots: Int, slots: Int, policyVersion: Int, secondsSinceSeen: Double) {
        self.id = id; self.host = host; self.busySlots = busySlots; self.slots = slots
        self.policyVersion = policyVersion; self.secondsSinceSeen = secondsSinceSeen
    }
}

/// One batch of groups an actor generated and sent.
public struct ActorBatchReport: Sendable {
    public var groups: Int
    public var rollouts: Int
    public var tokens: Int
    /// Wall time of the batch's generation (the groups ran together).
    public var milliseconds: Double
    public var policyVersion: Int
    public init(groups: Int, rollouts: Int, tokens: Int, milliseconds: Double, policyVersion: Int) {
        self.groups = groups; self.rollouts = rollouts; self.tokens = tokens; self.milliseconds = milliseconds;
        self.policyVersion = policyVersion
    }
}

/// An actor's own state, sampled once per heartbeat period.
public struct ActorSelfStatus: Sendable {
    public var actorId: String
    public var policyVersion: Int
    public var busySlots: Int
    public var slots: Int
    public var connected: Bool
    public init(actorId: String, policyVersion: Int, busySlots: Int, slots: Int, connected: Bool) {
        self.actorId = actorId; self.policyVersion = policyVersion; self.busySlots = busySlots; self.slots = slots;
        self.connected = connected
    }
}
