// The cluster across hosts: three Linux network namespaces made by the test (learner srl-l-*, actors
// srl-a1-* / srl-a2-*), each actor joined by a veth pair to a bridge in the learner's namespace, addresses in
// a random 10.250.X.0/24 that exists only inside them. Processes run under `ip netns exec`, so the learner binds
// a non-loopback address and actors reach it over real (virtual) links, not loopback. One actor's link is
// then cut mid-run: the learner must notice, re-issue what it held and finish with the other; when the link
// comes back the cut actor must be able to rejoin. Needs root and `ip netns`; otherwise the test skips.
import XCTest
import Transport
import Foundation

/// Namespaces, a bridge and veth links, torn down on teardown whatever happened (deleting a namespace
/// deletes the links inside it; no interface is ever created in the test runner's own namespace).
final class NetnsLab {
    static let ipCandidates = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
    let ip: String
    let tag: String
    let subnet: Int
    var namespaces: [String] = []

    init(testCase: XCTestCase) throws {
        guard geteuid() == 0 else {
            throw XCTSkip("multi-host test needs root to create network namespaces (euid \(geteuid()))")
        }
        guard let ip = Self.ipCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("`ip` (iproute2) not found at \(Self.ipCandidates): apt-get install iproute2")
        }
        self.ip = ip
        tag = String(format: "%04x", UInt16.random(in: 0...UInt16.max))
        subnet = Int.random(in: 1...254)
        testCase.addTeardownBlock { [self] in
            for ns in namespaces.reversed() { _ = try? run(["netns", "del", ns]) }
        }
    }

    var learnerAddress: String { "10.250.\(subnet).1" }
    func learnerNS() -> String { "srl-l-\(tag)" }
    func actorNS(_ i: Int) -> String { "srl-a\(i)-\(tag)" }
    func learnerSideLink(_ i: Int) -> String { "srl\(i)l\(tag)" }
    func wrapper(_ ns: String) -> [String] { [ip, "netns", "exec", ns] }

    /// Runs `ip ARGS`; throws with its output when it fails.
    @discardableResult
    func run(_ args: [String]) throws -> String {
        let (status, out) = try ClusterHarness.runToEnd(ip, args)
        guard status == 0 else { throw NetnsError(description: "ip \(args.joined(separator: " ")) failed: \(out)") }
        return out
    }

    struct NetnsError: Error, CustomStringConvertible { let description: String }

    /// learner namespace with bridge br0 at .1; actor i at .(10+i), linked to the bridge by a veth pair.
    func build(actors: Int) throws {
        do {
            try run(["netns", "add", learnerNS()])
        } catch {
            throw XCTSkip("cannot create network namespaces here (\(error)); the multi-host test needs CAP_SYS_ADMIN")
        }
        namespaces.append(learnerNS())
        let L = learnerNS()
        try run(["-n", L, "link", "set", "lo", "up"])
        try run(["-n", L, "link", "add", "br0", "type", "bridge"])
        try run(["-n", L, "addr", "add", "\(learnerAddress)/24", "dev", "br0"])
        try run(["-n", L, "link", "set", "br0", "up"])
        for i in 1...actors {
            let A = actorNS(i)
            try run(["netns", "add", A]); namespaces.append(A)
            try run(["-n", A, "link", "set", "lo", "up"])
            // Both ends are born inside the namespaces: nothing touches the runner's own network.
            try run(["-n", A, "link", "add", "eth0", "type", "veth", "peer", "name", learnerSideLink(i), "netns", L])
            try run(["-n", A, "addr", "add", "10.250.\(subnet).\(10 + i)/24", "dev", "eth0"])
            try run(["-n", A, "link", "set", "eth0", "up"])
            try run(["-n", L, "link", "set", learnerSideLink(i), "master", "br0"])
            try run(["-n", L, "link", "set", learnerSideLink(i), "up"])
        }
    }

    func setLink(actor i: Int, up: Bool) throws {
        try run(["-n", learnerNS(), "link", "set", learnerSideLink(i), up ? "up" : "down"])
    }
}

final class MultiHostTests: XCTestCase {
    func testLearnerAndTwoActorsInSeparateNamespacesSurviveAPartition() throws {
        let lab = try NetnsLab(testCase: self) // its teardown runs after the harness has killed the processes
        try lab.build(actors: 2)
        let h = try ClusterHarness(testCase: self)
        let base = try h.makeBase()
        let bind = "tcp://\(lab.learnerAddress):5555"
        // Trust: a reachable bind needs keys; the hosts talk CURVE (or, without CURVE in libzmq, --insecure).
        let keys = h.dir.appendingPathComponent("keys")
        var security = ["--insecure"], actorSecurity: [String] = []
        if CurveKeyPair.isAvailable {
            let learnerKeys = try CurveKeyPair.generate()
            try learnerKeys.save(to: keys, name: "learner")
            var allowed = ""
            for host in ["host1", "host2"] {
                let k = try CurveKeyPair.generate(); try k.save(to: keys, name: host);
                allowed += "\(k.publicKey) \(host)\n"
            }
            try allowed.write(to: keys.appendingPathComponent("allowed_actors"), atomically: true, encoding: .utf8)
            security = ["--keys", keys.path]; actorSecurity = ["--keys", keys.path]
        }
        let learner = try h.startLearner(
            ["--base", base, "--steps", "1000", "--max-staleness", "3"] + security, bind: bind,
            wrapper: lab.wrapper(lab.learnerNS()))
        XCTAssertEqual(try h.endpoint(), bind)
        try h.spawn(
            ["actor", "--connect", bind, "--id", "host1", "--slots", "2", "--threads", "1"] + actorSecurity,
            log: "host1", wrapper: lab.wrapper(lab.actorNS(1)))
        let host2 = try h.spawn(
            ["actor", "--connect", bind, "--id", "host2", "--slots", "2", "--threads", "1"] + actorSecurity,
            log: "host2", wrapper: lab.wrapper(lab.actorNS(2)))

        // Both hosts feed updates before the cut.
        func contributed(_ id: String) -> Bool {
            h.metrics().contains { (($0["actorTokensPerSecond"] as? [String: Double])?[id] ?? 0) > 0 }
        }
        XCTAssertTrue(
            h.waitUntil(180) { contributed("host1") && contributed("host2") },
            "both actors should contribute over the bridge; learner log:\n\(h.log("learner"))\nhost2:\n\(h.log("host2"))"
        )
        let cutAt = h.lastStep()
        try lab.setLink(actor: 2, up: false)
        XCTAssertTrue(
            h.waitUntil(60) { h.log("learner").contains("actor host2 silent") },
            "the learner never noticed the partition:\n\(h.log("learner"))")
        // The cut actor gives up on the silent learner by itself, and training goes on with host1 alone.
        XCTAssertTrue(
            h.waitUntil(60) { h.log("host2").contains("silent") && h.log("host2").contains("reconnecting to") },
            "host2 log:\n\(h.log("host2"))")
        XCTAssertTrue(host2.isRunning)
        XCTAssertTrue(
            h.waitUntil(120) { h.lastStep() >= cutAt + 2 }, "training stalled after the partition:\n\(h.log("learner"))"
        )

        // Heal: host2 must rejoin the same learner under the same id (a new connection; the old one died
        // silently with the link, so the learner never saw it close) and contribute again.
        try lab.setLink(actor: 2, up: true)
        let healedAt = h.lastStep()
        func joins() -> Int { h.log("learner").components(separatedBy: "actor host2 joined from").count - 1 }
        XCTAssertTrue(
            h.waitUntil(60) { joins() >= 2 },
            "after the link came back host2 never rejoined (same id, new connection). learner log:\n\(h.log("learner"))\nhost2 log:\n\(h.log("host2"))"
        )
        XCTAssertTrue(
            h.waitUntil(120) {
                h.metrics().contains {
                    ($0["step"] as? Int ?? 0) > healedAt
                        && (($0["actorTokensPerSecond"] as? [String: Double])?["host2"] ?? 0) > 0
                }
            }, "host2 rejoined but its groups never reached an update again")
        h.stopLearner(learner)

        let log = h.log("learner")
        let m = h.metrics()
        // Whatever host2 held when it vanished was re-issued (the reaper's own count of it).
        let silentLine = log.split(separator: "\n").first { $0.contains("actor host2 silent") }.map(String.init) ?? ""
        let held = Int(silentLine.components(separatedBy: "presumed lost; ").last?.prefix { $0.isNumber } ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(
            m.last?["reissued"] as? Int ?? 0, held, "host2 held \(held) item(s) that were never re-issued")
        try h.assertEveryPromptOnce(m)
    }
}
