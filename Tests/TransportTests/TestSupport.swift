// Helpers shared by the Transport tests: deterministic random bytes and socket plumbing.
// Not tests themselves. Timeouts here only keep a broken test from hanging; nothing asserts on time.
import Foundation
import XCTest
@testable import Transport
import TensorMath

/// Generous receive timeout: a hang guard, never a performance assertion.
let hangGuardMs = 5_000

/// Deterministic (TensorMath's SplitMix64), so a failing garbage sample fails the same way every run.
func randomBytes(_ count: Int, _ rng: inout SplitMix64) -> Data {
    Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) })
}

/// Binds to a free loopback port and returns the resolved endpoint.
func bindLoopback(_ socket: ZMQSocket) throws -> String {
    try socket.bind("tcp://127.0.0.1:*")
    let endpoint = try socket.lastEndpoint
    XCTAssertTrue(endpoint.hasPrefix("tcp://127.0.0.1:"), endpoint)
    return endpoint
}

/// A DEALER announcing `id`, connected to `endpoint`.
func dealer(_ ctx: ZMQContext, id: String, to endpoint: String) throws -> ZMQSocket {
    let s = try ZMQSocket(ctx, .dealer)
    try s.set(.routingId(Data(id.utf8)))
    try s.connect(endpoint)
    return s
}

/// Receives or fails the test (instead of hanging) after the hang guard.
func mustReceive(_ socket: ZMQSocket, file: StaticString = #filePath, line: UInt = #line) throws -> [Data] {
    guard let frames = try socket.receive(timeoutMs: hangGuardMs) else {
        XCTFail("nothing received on \(socket) within the hang guard", file: file, line: line)
        throw XCTSkip("no message")
    }
    return frames
}

extension Data {
    var utf8String: String { String(decoding: self, as: UTF8.self) }
}
