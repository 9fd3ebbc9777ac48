// The per-actor log-prob gap (ActorAgreement, written like its definition: the mean over an actor's groups of each
// group's mean |learner - behaviour| per action) and its warning, and the actor's rate-limited log of rejections (a
// learner that rejects every group, e.g. from a base model with NaN weights, must not fill the actor's log).
import XCTest
import Foundation
import Transport
@testable import Cluster

final class ActorAgreementTests: XCTestCase {
    func testTheGapIsPerActorAndAnActorAboveTheThresholdIsNamedOncePerInterval() {
        var a = ActorAgreement()
        a.produced(position: 10, by: "honest"); a.produced(position: 11, by: "faulty");
        a.produced(position: 12, by: "faulty")
        a.produced(position: 13, by: "honest")
        let r = a.update(positions: [10, 11, 12, 13], gaps: [1e-6, 0.4, 0.6, nil], threshold: 0.1, step: 1)
        XCTAssertEqual(
            r.perActor["honest"]!, 1e-6, accuracy: 1e-12, "a group dynamic sampling dropped (nil) does not count")
        XCTAssertEqual(r.perActor["faulty"]!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(r.warnings.count, 1)
        XCTAssertTrue(
            r.warnings[0].hasPrefix("actor faulty: its rollouts disagree with the learner by 0.5 nats per action"),
            r.warnings[0])
        // Positions are forgotten once trained on; the same actor is named again only after the interval.
        for step in 2...(1 + ActorAgreement.warningInterval) {
            a.produced(position: 100 + step, by: "faulty")
            let again = a.update(positions: [100 + step, 10], gaps: [0.5, 0.5], threshold: 0.1, step: step)
            XCTAssertEqual(again.perActor.keys.sorted(), ["faulty"], "position 10 was already trained on")
            XCTAssertEqual(again.warnings.count, step == 1 + ActorAgreement.warningInterval ? 1 : 0, "step \(step)")
        }
    }

    func testTheActorLogsAFewRejectionsAMinuteAndCountsTheRest() throws {
        let s = ActorSession(
            identity: ActorIdentity(actorId: "a", host: "h", pid: 1, cores: 1, slots: 1, softwareVersion: "t"))
        _ = s.connected(now: 0)
        var codec = WireCodec()
        var lines: [String] = []
        for i in 0..<200 {
            var e = Wire.Error(); e.code = Wire.ErrorCode.resultRejected.rawValue; e.workID = "p\(i)";
            e.message = "result p\(i) rejected: NaN"
            for effect in s.receive(try codec.encode(.error(e)), now: Double(i) * 0.1) {
                if case .log(_, let line) = effect { lines.append(line) }
            }
        }
        // 200 rejections in 20 s: the first minute's allowance is logged, the rest counted.
        XCTAssertEqual(lines.count, ClusterRules.warningsPerPeerPerMinute, "\(lines)")
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("learner rejected p") })
        var e = Wire.Error(); e.code = Wire.ErrorCode.resultRejected.rawValue; e.workID = "p999"; e.message = "rejected"
        let later = s.receive(try codec.encode(.error(e)), now: 61).compactMap { effect -> String? in
            if case .log(_, let l) = effect { return l } else { return nil }
        }
        XCTAssertEqual(later.count, 1)
        XCTAssertTrue(later[0].contains("(195 more rejection(s) not logged)"), "\(later)")
    }
}
