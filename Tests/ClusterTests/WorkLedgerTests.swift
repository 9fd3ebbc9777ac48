// The learner's work bookkeeping without sockets: credit-limited issue, completion by the holder only,
// re-issue on loss or deadline, late results from a presumed-lost holder, duplicates, stale groups, and the
// invariant that trained + outstanding positions always cover the schedule exactly once.
import XCTest
import Run
import SoftTokens
@testable import Cluster

final class WorkLedgerTests: XCTestCase {
    func ledger() -> WorkLedger { WorkLedger(schedule: PromptSchedule(count: 100, seed: 1)) }
    func group(version: Int) -> [Rollout] {
        [
            Rollout(
                promptIndex: 0, sampleIndex: 0, prompt: [1], steps: [], thinkingEnd: .forced, answer: [2],
                answerLogProbs: [0],
                sampler: SamplerConfig(), noiseSigma: 0, policyVersion: version)
        ]
    }

    func testIssueRespectsCreditAndOutstandingLimit() {
        let l = ledger()
        XCTAssertEqual(l.issue(to: "a", count: 3, limit: 4, now: 0).map(\.position), [0, 1, 2])
        XCTAssertEqual(l.issue(to: "b", count: 3, limit: 4, now: 0).map(\.position), [3])
        XCTAssertEqual(l.issue(to: "b", count: 3, limit: 4, now: 0).count, 0)
        XCTAssertEqual(l.schedule.cursor, 4)
    }

    func testOnlyTheHolderCompletesAndSecondResultIsADuplicate() {
        let l = ledger()
        let items = l.issue(to: "a", count: 2, limit: 10, now: 0)
        XCTAssertEqual(l.complete(workId: items[0].workId, by: "b"), .notAssigned)
        XCTAssertEqual(l.complete(workId: items[0].workId, by: "a"), .accepted(position: 0))
        l.buffer(position: 0, group: group(version: 0))
        XCTAssertEqual(l.complete(workId: items[0].workId, by: "a"), .duplicate)
        XCTAssertEqual(l.complete(workId: "p99", by: "a"), .unknown)
        XCTAssertEqual(l.complete(workId: "garbage", by: "a"), .unknown)
    }

    func testLostActorsWorkIsReissuedAndALateResultStillCountsOnce() {
        let l = ledger()
        let items = l.issue(to: "slow", count: 2, limit: 10, now: 0)
        XCTAssertEqual(l.actorLost("slow"), 2)
        XCTAssertEqual(l.reissue, [0, 1])
        // The re-issue goes to another actor first...
        let again = l.issue(to: "fast", count: 1, limit: 10, now: 1)
        XCTAssertEqual(again.map(\.position), [0])
        XCTAssertEqual(again[0].attempts, 2)
        // ...but the presumed-lost holder answers first: accepted; the new holder's copy is then a duplicate.
        XCTAssertEqual(l.complete(workId: items[0].workId, by: "slow"), .accepted(position: 0))
        l.buffer(position: 0, group: group(version: 0))
        XCTAssertEqual(l.complete(workId: again[0].workId, by: "fast"), .duplicate)
        // Position 1 is still waiting in line; its former holder's late result is taken and the re-issue skipped.
        XCTAssertEqual(l.complete(workId: items[1].workId, by: "slow"), .accepted(position: 1))
        XCTAssertTrue(l.reissue.isEmpty)
    }

    func testDeadlineReissuesAndStaleGroupsGoBackInLine() {
        let l = ledger()
        _ = l.issue(to: "a", count: 3, limit: 10, now: 0)
        XCTAssertEqual(l.expire(now: 5, timeout: 10), 0)
        XCTAssertEqual(l.expire(now: 11, timeout: 10), 3)
        let items = l.issue(to: "b", count: 3, limit: 10, now: 12)
        for (i, it) in items.enumerated() {
            XCTAssertEqual(l.complete(workId: it.workId, by: "b"), .accepted(position: it.position))
            l.buffer(position: it.position, group: group(version: i)) // versions 0, 1, 2
        }
        let (batch, stale) = l.takeBatch(count: 2) { $0[0].policyVersion >= 1 }
        XCTAssertEqual(stale, 1)
        XCTAssertEqual(batch.map(\.position), [1, 2])
        XCTAssertEqual(l.reissue, [0])
        // Invariant: consumed (1, 2) + outstanding (0) = everything issued.
        XCTAssertEqual(Set(l.outstandingPositions).union([1, 2]), Set(0..<l.schedule.cursor))
    }

    func testWorkIdRoundTrip() {
        XCTAssertEqual(WorkLedger.position(of: WorkLedger.workId(42)), 42)
        XCTAssertNil(WorkLedger.position(of: "q42"))
    }
}
