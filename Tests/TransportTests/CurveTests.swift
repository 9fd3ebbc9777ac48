// Trust at the socket level: key pairs and files, the allow-list format, and a ZAP-authenticated CURVE
// ROUTER on real tcp loopback sockets that tags each message with the key's allowed name and refuses other keys.
import Foundation
import XCTest
@testable import Transport

final class CurveTests: XCTestCase {
    override func setUpWithError() throws {
        guard CurveKeyPair.isAvailable else {
            throw XCTSkip(
                "libzmq has no CURVE (zmq_has(\"curve\") == 0): install libzmq built with libsodium (`bash scripts/setup.sh`)"
            )
        }
    }

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent(
            "softrl-curve-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: d) }
        return d
    }

    func testKeyPairsAreZ85AndFilesRoundTripWithAPrivateSecret() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        XCTAssertTrue(CurveKeyPair.isValidZ85Key(a.publicKey)); XCTAssertTrue(CurveKeyPair.isValidZ85Key(a.secretKey))
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(try CurveKeyPair(secretKey: a.secretKey), a, "the public key is derived from the secret")
        let dir = try tempDir()
        try a.save(to: dir, name: "actor-1")
        XCTAssertEqual(try CurveKeyPair.load(from: dir, name: "actor-1"), a)
        let mode =
            try FileManager.default.attributesOfItem(atPath: CurveKeyPair.secretFile(dir, "actor-1").path)[
                .posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertThrowsError(try b.save(to: dir, name: "actor-1"), "a key is never overwritten")
        XCTAssertThrowsError(try CurveKeyPair.load(from: dir, name: "nobody")) {
            XCTAssertTrue("\($0)".contains("softrl keys generate"), "\($0)")
        }
    }

    func testAllowListParsesCommentsAndNamesTheBadLine() throws {
        let k1 = try CurveKeyPair.generate().publicKey, k2 = try CurveKeyPair.generate().publicKey
        let list = try AllowList(text: "# actors\n\n\(k1) actor-1\n  \(k2)\tactor-2  \n", source: "allowed_actors")
        XCTAssertEqual(list.names, [k1: "actor-1", k2: "actor-2"])
        for (text, line, words) in [
            ("\(k1) actor-1\nnot-a-key actor-2\n", 2, "Z85"), ("# x\n\(k1)\n", 2, "no actor name"),
            ("\(k1) a b\n", 1, "more than one"), ("\(k1) a\n\(k1) b\n", 2, "already allowed")
        ] {
            XCTAssertThrowsError(try AllowList(text: text, source: "allowed_actors")) { e in
                XCTAssertTrue("\(e)".contains("allowed_actors line \(line):") && "\(e)".contains(words), "\(e)")
            }
        }
    }

    /// An allow-list and key files saved with CRLF line endings (an editor on Windows) load every key. Before,
    /// Swift's "\r\n" being one Character meant no "\n" was found: the list was read as one comment line, 0 keys,
    /// and every actor was refused without an error.
    func testCRLFLineEndingsLoadEveryKey() throws {
        let dir = try tempDir()
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        let file = dir.appendingPathComponent("allowed_actors")
        try Data("# actors of the cluster\r\n\(a.publicKey) actor-1\r\n\r\n\(b.publicKey) actor-2\r\n".utf8).write(
            to: file)
        XCTAssertEqual(try AllowList(contentsOf: file).names, [a.publicKey: "actor-1", b.publicKey: "actor-2"])
        let cr = dir.appendingPathComponent("allowed_actors_cr") // classic Mac line ends too
        try Data("# actors\r\(a.publicKey) actor-1\r".utf8).write(to: cr)
        XCTAssertEqual(try AllowList(contentsOf: cr).names, [a.publicKey: "actor-1"])

        try a.save(to: dir, name: "actor-1")
        for f in [CurveKeyPair.secretFile(dir, "actor-1"), CurveKeyPair.publicFile(dir, "actor-1")] {
            let text = try String(contentsOf: f, encoding: .utf8).replacingOccurrences(of: "\n", with: "\r\n")
            try Data(text.utf8).write(to: f)
        }
        try FileManager.default.setAttributes(
            [.posixPermissions: 0o600], ofItemAtPath: CurveKeyPair.secretFile(dir, "actor-1").path)
        XCTAssertEqual(try CurveKeyPair.load(from: dir, name: "actor-1"), a)
        XCTAssertEqual(try CurveKeyPair.loadPublic(CurveKeyPair.publicFile(dir, "actor-1")), a.publicKey)
    }

    /// A secret key file its group or others may read is refused, as ssh refuses such a private key, with the
    /// command that fixes it; 0600 and 0400 load.
    func testASecretKeyOthersMayReadIsRefusedWithTheChmodToType() throws {
        let dir = try tempDir()
        let a = try CurveKeyPair.generate()
        try a.save(to: dir, name: "learner")
        let path = CurveKeyPair.secretFile(dir, "learner").path
        for mode in [0o644, 0o640, 0o604, 0o660, 0o777] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            XCTAssertThrowsError(
                try CurveKeyPair.load(from: dir, name: "learner"), "mode \(String(mode, radix: 8)) was accepted"
            ) { e in
                XCTAssertTrue(
                    "\(e)".contains("chmod 600 \(path)") && "\(e)".contains(String(format: "%04o", mode)), "\(e)")
            }
        }
        for mode in [0o600, 0o400] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            XCTAssertEqual(try CurveKeyPair.load(from: dir, name: "learner"), a)
        }
    }

    /// Garbage in a key file or an allow-list (bytes that are not UTF-8, a truncated key) names the file and the
    /// line. Before: "The file isn't in the correct format." with neither.
    func testGarbageInAKeyFileNamesTheFileAndTheLine() throws {
        let dir = try tempDir()
        let a = try CurveKeyPair.generate()
        let secret = CurveKeyPair.secretFile(dir, "actor-1")
        var garbage = Data("# CURVE actor-1\n".utf8)
        garbage.append(contentsOf: [0xFF, 0xFE, 0x00, 0x81, 0x41, 0x0A])
        for (contents, line) in [(garbage, 2), (Data("# x\n\nk\(a.secretKey.prefix(38))\n".utf8), 3)] {
            try? FileManager.default.removeItem(at: secret)
            XCTAssertTrue(
                FileManager.default.createFile(
                    atPath: secret.path, contents: contents, attributes: [.posixPermissions: 0o600]))
            XCTAssertThrowsError(try CurveKeyPair.load(from: dir, name: "actor-1")) { e in
                XCTAssertTrue(
                    "\(e)".contains("\(secret.path) line \(line):") && "\(e)".contains("40-character Z85 key"), "\(e)")
            }
        }
        try Data("# only a comment\n".utf8).write(to: dir.appendingPathComponent("learner.key"))
        XCTAssertThrowsError(try CurveKeyPair.loadPublic(dir.appendingPathComponent("learner.key"))) { e in
            XCTAssertTrue("\(e)".contains("learner.key holds no key"), "\(e)")
        }
        let list = dir.appendingPathComponent("allowed_actors")
        var bad = Data("\(a.publicKey) actor-1\n".utf8)
        bad.append(contentsOf: [0xC3, 0x28, 0x20, 0x61, 0x0A])
        try bad.write(to: list)
        XCTAssertThrowsError(try AllowList(contentsOf: list)) { e in
            XCTAssertTrue("\(e)".contains("\(list.path) line 2:"), "\(e)")
        }
    }

    /// A CURVE server ROUTER with a ZAP authenticator, bound on tcp loopback.
    func server(_ ctx: ZMQContext, allowing: [String: String], dir: URL) throws -> (
        ZMQSocket, ZAPAuthenticator, CurveKeyPair, String, URL
    ) {
        let file = dir.appendingPathComponent("allowed_actors")
        try allowing.map { "\($0.key) \($0.value)" }.joined(separator: "\n").write(
            to: file, atomically: true, encoding: .utf8)
        let auth = try ZAPAuthenticator(context: ctx, allowList: file)
        let keys = try CurveKeyPair.generate()
        let router = try ZMQSocket(ctx, .router)
        try router.set(.curveServer(true)); try router.set(.curveSecretKey(keys.secretKey));
        try router.set(.zapDomain("test"))
        try? router.set(.zapEnforceDomain(true))
        let ep = try bindLoopback(router)
        return (router, auth, keys, ep, file)
    }

    func client(_ ctx: ZMQContext, _ mine: CurveKeyPair, server: String, endpoint: String) throws -> ZMQSocket {
        let s = try ZMQSocket(ctx, .dealer)
        try s.set(.linger(ms: 0))
        try s.set(.curveServerKey(server)); try s.set(.curvePublicKey(mine.publicKey));
        try s.set(.curveSecretKey(mine.secretKey))
        try s.connect(endpoint)
        return s
    }

    func testZAPAdmitsAllowedKeysWithTheirNameAndRefusesOthers() throws {
        let ctx = try ZMQContext()
        let dir = try tempDir()
        let good = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let (router, auth, keys, ep, file) = try server(ctx, allowing: [good.publicKey: "actor-1"], dir: dir)
        defer { auth.stop() }
        let stray = try client(ctx, stranger, server: keys.publicKey, endpoint: ep)
        try stray.send(Data("from a stranger".utf8))
        let ok = try client(ctx, good, server: keys.publicKey, endpoint: ep)
        try ok.send(Data("hello".utf8))
        let got = try XCTUnwrap(try router.receiveAuthenticated(timeoutMs: hangGuardMs))
        XCTAssertEqual(got.frames.last, Data("hello".utf8), "only the allowed key's message arrives")
        XCTAssertEqual(got.userId, "actor-1", "the message carries the key's allowed name")
        XCTAssertEqual(auth.acceptedCount, 1)
        // The stranger's handshake was answered 400 (libzmq retries it, so at least once).
        XCTAssertTrue(waitUntil { auth.refusedCount >= 1 })
        XCTAssertNil(try router.receive(timeoutMs: 0), "nothing from the refused key")
        // Removing the key and reloading refuses it at its next connection.
        try "# nobody\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try auth.reload(), 0)
        let before = auth.refusedCount
        let again = try client(ctx, good, server: keys.publicKey, endpoint: ep)
        try again.send(Data("after removal".utf8))
        XCTAssertTrue(waitUntil { auth.refusedCount > before })
        // A broken file keeps the old list and names the line.
        try "garbage\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try auth.reload()) { XCTAssertTrue("\($0)".contains("line 1"), "\($0)") }
        for s in [stray, ok, again, router] { s.close(lingerMs: 0) }
    }

    func testPlaintextClientGetsNothingThroughToACurveServer() throws {
        let ctx = try ZMQContext()
        let dir = try tempDir()
        let good = try CurveKeyPair.generate()
        let (router, auth, keys, ep, _) = try server(ctx, allowing: [good.publicKey: "actor-1"], dir: dir)
        defer { auth.stop() }
        let plain = try dealer(ctx, id: "plain", to: ep)
        try plain.set(.linger(ms: 0))
        try plain.send(Data("plaintext".utf8))
        // Sent after the plaintext one: once it has arrived, the plaintext message would have too.
        let ok = try client(ctx, good, server: keys.publicKey, endpoint: ep)
        try ok.send(Data("curve".utf8))
        let got = try XCTUnwrap(try router.receiveAuthenticated(timeoutMs: hangGuardMs))
        XCTAssertEqual(got.frames.last, Data("curve".utf8))
        XCTAssertNil(try router.receive(timeoutMs: 0), "the plaintext peer's message never arrives")
        for s in [plain, ok, router] { s.close(lingerMs: 0) }
    }

    func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<200 { if condition() { return true }; usleep(50_000) } // hang guard only: 10 s
        return condition()
    }
}
