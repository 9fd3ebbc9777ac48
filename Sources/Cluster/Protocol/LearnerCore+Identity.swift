// Trust: identity from the key. When the learner runs with keys, every connection carries the name its
// CURVE key is allowed under (the ZAP user id), and that name IS the actor id: a Hello may omit actor_id (it is
// filled in) but may not claim another one, and a connection never speaks for an id other than its own.
// Pure like the rest of LearnerCore: the shell passes the authenticated id with each frame.
import Foundation
import Transport

extension LearnerCore {
    /// False (with an Error queued and the refusal logged and counted) when the message must not be processed.
    func admitsAuthenticated(
        _ envelope: Envelope, _ authenticatedId: String, from address: PeerAddress, now: Double,
        _ out: inout [LearnerEffect]
    ) -> Bool {
        guard !authenticatedId.isEmpty else {
            refusedImpersonations += 1
            warn(
                &out, address, now,
                "refused a message from \(Self.printable(address)): the connection has no authenticated identity")
            out.append(
                error(
                    .malformed,
                    "this learner requires CURVE authentication; the connection has no authenticated identity",
                    to: address))
            return false
        }
        if case .hello(let h)? = envelope.body {
            guard h.actorID.isEmpty || h.actorID == authenticatedId else {
                refusedImpersonations += 1
                warn(
                    &out, address, now,
                    "refused a Hello claiming actor id \(h.actorID) from the connection of key '\(authenticatedId)'")
                out.append(
                    error(
                        .duplicateActor,
                        "actor id \(h.actorID) is not yours: your key is allowed as '\(authenticatedId)', so say Hello as that (start the actor with --id \(authenticatedId), or omit --id)",
                        to: address))
                return false
            }
            return true
        }
        if let bound = actorOfAddress[address], bound != authenticatedId {
            refusedImpersonations += 1
            warn(
                &out, address, now,
                "refused a message on the connection of key '\(authenticatedId)' bound to actor \(bound)")
            out.append(
                error(
                    .unknownActor, "this connection is authenticated as '\(authenticatedId)': send Hello first",
                    to: address))
            return false
        }
        return true
    }

    /// The Hello to act on: with an authenticated id, its actor id is that id.
    func bindingId(_ h: Wire.Hello, _ authenticatedId: String?) -> Wire.Hello {
        guard let authenticatedId, h.actorID != authenticatedId else { return h }
        var bound = h
        bound.actorID = authenticatedId
        return bound
    }
}
