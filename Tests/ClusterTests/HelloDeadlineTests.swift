// HelloDeadline in memory: which accepted descriptors the learner shell closes, against a by-hand account of
// the same events (the real-socket check is HostileInputTests.testSilentConnectionsAreClosedAfterTheHelloDeadline).
import XCTest
@testable import Cluster

final class HelloDeadlineTests: XCTestCase {
    func testOnlySilentConnectionsPastTheDeadlineAreNamedOnce() {
        var d = HelloDeadline(seconds: 10)
        d.accepted(7, now: 0) // says Hello
        d.accepted(8, now: 0) // silent
        d.accepted(9, now: 5) // silent, later
        d.accepted(10, now: 1) // leaves by itself
        d.introduced(7)
        d.ended(10)
        XCTAssertEqual(d.overdue(now: 10), [], "nothing is overdue at exactly the deadline")
        XCTAssertEqual(d.overdue(now: 10.5), [8])
        XCTAssertEqual(d.overdue(now: 11), [], "a named descriptor is forgotten: it is not named twice")
        // libzmq reuses descriptor numbers: a new connection on 8 starts its own clock.
        d.accepted(8, now: 12)
        XCTAssertEqual(d.overdue(now: 15.5), [9])
        XCTAssertEqual(d.overdue(now: 22.5), [8])
        XCTAssertEqual(d.pending, 0)
    }
}
