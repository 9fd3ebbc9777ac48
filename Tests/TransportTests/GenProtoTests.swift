// scripts/gen-proto.sh --python must produce a softrl_pb2.py for Python peers.
// Not a check that the committed Swift is current (that needs a ~2 min protoc-gen-swift build).
import Foundation
import XCTest

final class GenProtoTests: XCTestCase {
    func testPythonGenerationWorks() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/gen-proto.sh")
        guard FileManager.default.fileExists(atPath: "/usr/bin/protoc") else { throw XCTSkip("protoc not installed") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-py-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }

        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script.path, "--python", out.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let py = try String(contentsOf: out.appendingPathComponent("softrl_pb2.py"), encoding: .utf8)
        XCTAssertTrue(py.contains("softrl.v1"), "generated module does not mention the package")
        XCTAssertTrue(py.contains("_ENVELOPE"), "no Envelope descriptor in the generated module")
        XCTAssertTrue(py.contains("_WEIGHTSCHUNK"))
    }
}
