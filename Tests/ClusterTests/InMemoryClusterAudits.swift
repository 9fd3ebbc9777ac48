// The in-memory cluster's audits as test assertions.
import ClusterKit
import XCTest

extension InMemoryCluster {
    /// No position trained twice; trained + outstanding = the schedule so far; no effect broke an audit.
    func assertEveryPositionOnce(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(positionAudit(), file: file, line: line)
        XCTAssertEqual(violations, [], file: file, line: line)
    }
}
