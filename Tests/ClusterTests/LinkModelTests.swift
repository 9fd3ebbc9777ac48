// The in-memory cluster's link models against schedules worked out by hand: an instant link is a queue in send
// order; a shared uplink serves its destinations round robin, message by message, each arriving one latency
// after its turn on the wire ends; the receiver's hash shows only where the transfer does not hide it.
import ClusterKit
import Foundation
import XCTest

final class LinkModelTests: XCTestCase {
    func testInstantLinkDeliversAtOnceInSendOrder() {
        let queue = EventQueue(start: 5)
        let link = InstantLink()
        var arrivals: [(String, Double)] = []
        for name in ["a", "b", "c"] {
            link.carry(1 << 20, from: .learner, to: .actor(0), on: queue) { arrivals.append((name, queue.now)) }
        }
        XCTAssertTrue(queue.run(until: 5))
        XCTAssertEqual(arrivals.map(\.0), ["a", "b", "c"])
        XCTAssertEqual(arrivals.map(\.1), [5, 5, 5])
    }

    func testSharedUplinkServesDestinationsRoundRobin() {
        let queue = EventQueue()
        let link = SharedUplinks(
            .init(bytesPerSecond: 1000, latencySeconds: 0.5, hashBytesPerSecond: 1e9), nominalChunkBytes: 1000)
        var arrivals: [String: Double] = [:]
        // Three frames for actor 0, then one for actor 1, all sent at t = 0, 1 s each on the wire. The first goes out
        // at once; then the destinations take turns: 0's second, 1's, 0's third (a FIFO would send 1's last).
        for (name, to) in [("b1", 0), ("b2", 0), ("b3", 0), ("c1", 1)] {
            link.carry(1000, from: .learner, to: .actor(to), on: queue) { arrivals[name] = queue.now }
        }
        // Another node's uplink is its own: a frame from actor 1 at t = 0 is not queued behind the learner's.
        link.carry(500, from: .actor(1), to: .learner, on: queue) { arrivals["up"] = queue.now }
        while queue.runNext() {}
        XCTAssertEqual(arrivals["b1"]!, 1.5, accuracy: 1e-12)
        XCTAssertEqual(arrivals["b2"]!, 2.5, accuracy: 1e-12)
        XCTAssertEqual(arrivals["c1"]!, 3.5, accuracy: 1e-12)
        XCTAssertEqual(arrivals["b3"]!, 4.5, accuracy: 1e-12)
        XCTAssertEqual(arrivals["up"]!, 1.0, accuracy: 1e-12)
        XCTAssertEqual(link.chunkCost(actualBytes: 7), 1000, "a stand-in chunk is charged its nominal size")
    }

    func testTheReceiversHashShowsOnlyWhereTheTransferDoesNotHideIt() {
        // 10 chunks of 100 bytes over 1000 B/s: 1 s on the wire.
        let slowHash = SharedUplinks(
            .init(bytesPerSecond: 1000, latencySeconds: 0, hashBytesPerSecond: 500), nominalChunkBytes: 100)
        XCTAssertEqual(
            slowHash.checkSeconds(chunks: 10), 2.0 - 1.0, accuracy: 1e-12,
            "hashing 1000 B takes 2 s, 1 s of it during the transfer")
        let fastHash = SharedUplinks(
            .init(bytesPerSecond: 1000, latencySeconds: 0, hashBytesPerSecond: 2000), nominalChunkBytes: 100)
        XCTAssertEqual(
            fastHash.checkSeconds(chunks: 10), 100.0 / 2000, accuracy: 1e-12, "only the last chunk's own hash is left")
        XCTAssertEqual(InstantLink().checkSeconds(chunks: 10), 0)
    }

    func testEventsAtOneTimeRunInTheOrderScheduled() {
        let queue = EventQueue()
        var order: [Int] = []
        queue.at(2) { order.append(3) }
        queue.at(1) {
            order.append(1); queue.at(1) { order.append(2) }
        }
        queue.at(3) { order.append(4) }
        XCTAssertTrue(queue.run(until: 2.5))
        XCTAssertEqual(order, [1, 2, 3])
        XCTAssertEqual(queue.now, 2.5)
        XCTAssertEqual(queue.nextTime, 3)
    }
}
