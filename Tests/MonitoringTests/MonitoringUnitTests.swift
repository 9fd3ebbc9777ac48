// In-process checks of the pieces the real-component tests rely on: CRC-32C and TFRecord framing, the metric
// names and values a step produces (read back with the exposition parser `top` uses), bounded actor series,
// and the `top` layout.
import XCTest
@testable import Cluster // StepMetrics has no public initializer; the services build it
import Monitoring

final class MonitoringUnitTests: XCTestCase {
    func testCRC32CCheckValueAndTFRecordFraming() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283) // the CRC-32C check value
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA) // RFC 3720 B.4 test vector
        let rec = TensorBoardWriter.record(Data([1, 2, 3]))
        XCTAssertEqual(rec.count, 8 + 4 + 3 + 4)
        XCTAssertEqual(Array(rec.prefix(8)), [3, 0, 0, 0, 0, 0, 0, 0])
    }

    func stepMetrics(step: Int, staleness: [String: Int] = ["0": 2], dropped: Int = 0) -> StepMetrics {
        var m = StepMetrics()
        m.update.step = step; m.update.policyVersion = step; m.update.rewardMean = 0.25; m.update.correctRate = 0.5;
        m.update.rollouts = 4
        m.learnerStepMs = 120; m.learnerWaitShare = 0.3; m.clusterTokensPerSecond = 900;
        m.stalenessHistogram = staleness
        m.droppedStale = dropped; m.actorTokensPerSecond = ["a0": 450, "a1": 450]; m.actorsConnected = 2
        return m
    }

    func testStepMetricsBecomePrometheusSeries() {
        let metrics = LearnerMetrics()
        metrics.record(step: stepMetrics(step: 1, dropped: 5))
        metrics.record(step: stepMetrics(step: 2, staleness: ["0": 1, "1": 1], dropped: 7))
        let s = Exposition.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(s.value("softrl_learner_policy_version"), 2)
        XCTAssertEqual(s.value("softrl_learner_updates_total"), 2)
        XCTAssertEqual(s.value("softrl_learner_rollouts_trained_total"), 8)
        XCTAssertEqual(
            s.value("softrl_learner_dropped_stale_groups_total"), 2,
            "a running total of 5 then 7 is an increase of 2 (the first value is the baseline)")
        XCTAssertEqual(s.value("softrl_learner_update_duration_seconds_count"), 2)
        XCTAssertEqual(s.value("softrl_learner_update_duration_seconds_sum")!, 0.24, accuracy: 1e-9)
        XCTAssertEqual(
            s.value("softrl_learner_group_staleness_versions_bucket", ["le": "0.0"])
                ?? s.value("softrl_learner_group_staleness_versions_bucket", ["le": "0"]), 3)
        XCTAssertEqual(s.value("softrl_learner_group_staleness_versions_count"), 4)
        XCTAssertEqual(s.value("softrl_learner_wait_ratio"), 0.3)
    }

    func testDepartedActorsLoseTheirSeries() {
        let metrics = LearnerMetrics()
        let a = ActorStatus(id: "a0", host: "h", busySlots: 1, slots: 2, policyVersion: 3, secondsSinceSeen: 0.2)
        var b = a; b.id = "a1"
        metrics.record(actors: [a, b])
        var s = Exposition.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(
            Set(s.filter { $0.name == "softrl_learner_actor_busy_slots" }.compactMap { $0.labels["actor"] }),
            ["a0", "a1"])
        metrics.record(actors: [b])
        s = Exposition.parse(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(
            Set(s.filter { $0.name.hasPrefix("softrl_learner_actor") }.compactMap { $0.labels["actor"] }), ["a1"])
        XCTAssertEqual(s.value("softrl_learner_actors_connected"), 1)
    }

    func testTopLayoutShowsWhatAnOperatorNeeds() {
        var s = TopSnapshot()
        s.source = "runs/x"; s.live = true; s.policyVersion = 12; s.updates = 12; s.stepSeconds = 0.21;
        s.waitShare = 0.06
        s.tokensPerSecond = 5120; s.reward = 0.421; s.correctRate = 0.352; s.staleness = [0: 40, 1: 8]
        s.actors = [
            TopActor(id: "a0", tokensPerSecond: 2500, busySlots: 2, slots: 2, version: 12, lastSeenSeconds: 0.3)
        ]
        s.rewardHistory = [0.1, 0.2, 0.3, 0.4]; s.tokensHistory = [1, 2, 3]
        let text = TopView.render(s, width: 100).joined(separator: "\n")
        XCTAssertTrue(text.contains("LEARNER  policy v12  updates 12  step 210 ms  wait 6%  5120 tok/s"), text)
        XCTAssertTrue(text.contains("▁") && text.contains("█"), text)
        XCTAssertTrue(
            text.contains("a0") && text.contains("2/2") && text.contains("v12") && text.contains("0.3 s ago"), text)
        XCTAssertEqual(TopView.sparkline([0, 1], width: 10), "▁█")
        XCTAssertTrue(TopView.plainLine(s, time: "12:00:00").hasPrefix("12:00:00 | policy v12 | updates 12"))
    }
}
