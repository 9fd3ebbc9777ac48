// Runs real `softrl learner` / `softrl actor` processes on real sockets for the cluster tests: spawns them with
// logs in a temporary run directory, reads metrics.jsonl and the learner checkpoint, waits with bounded
// timeouts (a hang fails the test instead of stalling CI) and kills everything it started on teardown.
import XCTest
import Foundation
import SoftRLTestSupport

final class ClusterHarness {
    static let repoRoot = SoftRLBinary.repoRoot
    let exe: URL
    let dir: URL
    private(set) var processes: [Process] = []

    init(testCase: XCTestCase) throws {
        let fm = FileManager.default
        exe = try SoftRLBinary.find()
        dir = fm.temporaryDirectory.appendingPathComponent("softrl-cluster-\(UUID().uuidString.prefix(8))")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        testCase.addTeardownBlock { [self] in
            for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
            for p in processes { p.waitUntilExit() }
            // Failing assertions quote the logs they need; SOFTRL_KEEP_LOGS=1 keeps the whole directory.
            if ProcessInfo.processInfo.environment["SOFTRL_KEEP_LOGS"] == nil {
                try? fm.removeItem(at: dir)
            } else {
                print("cluster test logs kept in \(dir.path)")
            }
        }
    }

    var runDir: URL { dir.appendingPathComponent("run") }

    /// A random tiny checkpoint: cluster mechanics need no trained model.
    func makeBase() throws -> String {
        let out = dir.appendingPathComponent("base").path
        let p = try spawn(["model", "init", "--preset", "tiny", "--seed", "1", "--out", out], log: "init")
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "model init failed: \(log("init"))")
        return out
    }

    /// Small, fast settings: 2 prompts x 2 samples per step, short heartbeats so loss is noticed in about a second.
    static let fastLearnerArgs = [
        "--group-size", "2", "--prompts", "2", "--threads", "1", "--heartbeat-ms", "200", "--mode", "soft"
    ]

    @discardableResult
    func spawn(_ args: [String], log name: String, environment: [String: String] = [:], wrapper: [String] = []) throws
        -> Process
    {
        try spawnProgram(
            wrapper.isEmpty ? exe.path : wrapper[0],
            Array(wrapper.dropFirst()) + (wrapper.isEmpty ? [] : [exe.path]) + args,
            log: name, environment: environment)
    }

    /// Any program (a Python peer, `ip`), logged and killed on teardown like the softrl processes.
    @discardableResult
    func spawnProgram(_ path: String, _ args: [String], log name: String, environment: [String: String] = [:]) throws
        -> Process
    {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let url = dir.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let h = try FileHandle(forWritingTo: url)
        _ = try? h.seekToEnd()
        p.standardOutput = h; p.standardError = h
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        try p.run()
        processes.append(p)
        return p
    }

    /// Runs a program to its end (stdout and stderr together); for helpers that are not SoftRL processes.
    static func runToEnd(_ executable: String, _ args: [String], environment: [String: String]? = nil) throws -> (
        status: Int32, output: String
    ) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        if let environment { p.environment = environment }
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, out)
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

    func startLearner(
        _ extra: [String], bind: String = "tcp://127.0.0.1:*", log name: String = "learner", wrapper: [String] = []
    ) throws -> Process {
        try? FileManager.default.removeItem(at: runDir.appendingPathComponent("learner.endpoint"))
        var fast = Self.fastLearnerArgs
        // `extra` may choose another mode (e.g. hard for peers that make hard rollouts).
        if extra.contains("--mode"), let i = fast.firstIndex(of: "--mode") { fast.removeSubrange(i...(i + 1)) }
        return try spawn(
            ["learner", "--bind", bind, "--run-dir", runDir.path] + fast + extra, log: name, wrapper: wrapper)
    }

    /// A tiny `jsonl:` task (8 one-digit sums) with a separate test file, so the train split is the whole train file
    /// in order. Returns the task name to pass as `--task`.
    func writeJSONLTask() throws -> String {
        let train = [
            ("1+2=", "3"), ("2+2=", "4"), ("3+4=", "7"), ("5+4=", "9"), ("1+1=", "2"), ("6+2=", "8"), ("2+5=", "7"),
            ("4+4=", "8")
        ]
        let test = [("3+3=", "6"), ("0+5=", "5")]
        func lines(_ xs: [(String, String)]) -> String {
            xs.map { #"{"prompt": "\#($0.0)", "answer": "\#($0.1)", "cot": "\#($0.0.filter(\.isNumber))"}"# }.joined(
                separator: "\n") + "\n"
        }
        let path = dir.appendingPathComponent("sums.jsonl")
        try lines(train).write(to: path, atomically: true, encoding: .utf8)
        try lines(test).write(to: dir.appendingPathComponent("sums.test.jsonl"), atomically: true, encoding: .utf8)
        return "jsonl:" + path.path
    }

    func endpoint(timeout: Double = 60) throws -> String {
        let url = runDir.appendingPathComponent("learner.endpoint")
        XCTAssertTrue(
            waitUntil(timeout) { FileManager.default.fileExists(atPath: url.path) },
            "learner never bound; log:\n\(log("learner"))")
        return try String(contentsOf: url, encoding: .utf8)
    }

    func startActor(_ id: String, endpoint: String, slots: Int = 1, extra: [String] = []) throws -> Process {
        try spawn(
            ["actor", "--connect", endpoint, "--id", id, "--slots", "\(slots)", "--threads", "1"] + extra, log: id)
    }

    /// Parsed metrics.jsonl lines, in file order.
    func metrics() -> [[String: Any]] {
        guard let text = try? String(contentsOf: runDir.appendingPathComponent("metrics.jsonl"), encoding: .utf8) else {
            return []
        }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
    func lastStep() -> Int { (metrics().last?["step"] as? Int) ?? 0 }

    func learnerState() throws -> [String: Any] {
        let url = runDir.appendingPathComponent("checkpoint/learner_state.json")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// Polls `condition` every 50 ms for at most `timeout` seconds.
    func waitUntil(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    func waitForExit(_ p: Process, timeout: Double) -> Bool { waitUntil(timeout) { !p.isRunning } }

    /// Ends a run that was given more steps than the test needs, as an operator does (SIGTERM: checkpoint, exit 0).
    /// Tests wait for what they check and then stop the learner, so no assertion depends on how fast a machine
    /// finishes a fixed number of steps (a short run once ended on a fast CI machine before the event under test).
    func stopLearner(_ p: Process, log name: String = "learner", file: StaticString = #filePath, line: UInt = #line) {
        kill(p.processIdentifier, SIGTERM)
        XCTAssertTrue(
            waitForExit(p, timeout: 60), "learner ignored SIGTERM; log:\n\(log(name))", file: file, line: line)
        XCTAssertEqual(status(p), 0, "learner did not stop cleanly; log:\n\(log(name))", file: file, line: line)
    }

    /// Exit status, or -1 while still running (Foundation traps on terminationStatus of a running process,
    /// which would turn one failed wait into a crash of the whole test run).
    func status(_ p: Process) -> Int32 { p.isRunning ? -1 : p.terminationStatus }

    /// Prompt-position audit of a run: no position trained twice, and trained + still outstanding positions
    /// (from the checkpoint) are exactly the schedule so far (nothing skipped).
    func assertEveryPromptOnce(_ lines: [[String: Any]], file: StaticString = #filePath, line: UInt = #line) throws {
        var trained = Set<Int>()
        for m in lines {
            for p in (m["positions"] as? [Int]) ?? [] {
                XCTAssertFalse(trained.contains(p), "position \(p) trained twice", file: file, line: line)
                trained.insert(p)
            }
        }
        let state = try learnerState()
        let cursor = try XCTUnwrap(state["scheduleCursor"] as? Int, file: file, line: line)
        let outstanding = Set((state["outstandingPositions"] as? [Int]) ?? [])
        XCTAssertTrue(
            trained.isDisjoint(with: outstanding), "a trained position is also outstanding", file: file, line: line)
        XCTAssertEqual(
            trained.union(outstanding), Set(0..<cursor), "trained + outstanding must cover the schedule", file: file,
            line: line)
    }
}
