// Shared plumbing of the operator's-view tests: finds the built `softrl`, runs programs with logs in a temporary
// directory, finds tools (prometheus, promtool, tmux, chromium, a Python with tensorboard) or skips with the
// reason, picks free loopback ports, and polls with bounded waits (a hang fails the test, it never stalls CI).
import XCTest
import Foundation
import Monitoring

final class OpsHarness {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let exe: URL
    let dir: URL
    private(set) var processes: [Process] = []

    init(name: String) throws {
        let fm = FileManager.default
        var candidates = [Bundle(for: OpsHarness.self).bundleURL.deletingLastPathComponent().appendingPathComponent("softrl")]
        for config in ["debug", "release"] { candidates.append(Self.repoRoot.appendingPathComponent(".build/\(config)/softrl")) }
        guard let found = candidates.first(where: { fm.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("softrl binary not built: run `swift build --product softrl` (looked at \(candidates.map(\.path)))")
        }
        exe = found
        dir = fm.temporaryDirectory.appendingPathComponent("softrl-ops-\(name)-\(UUID().uuidString.prefix(6))")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// Kills what it started (SIGTERM, then SIGKILL after a bounded wait) and removes the directory
    /// unless SOFTRL_KEEP_LOGS is set.
    func shutdown() {
        for p in processes where p.isRunning { p.terminate() }
        _ = waitUntil(15) { self.processes.allSatisfy { !$0.isRunning } }
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in processes { p.waitUntilExit() }
        if ProcessInfo.processInfo.environment["SOFTRL_KEEP_LOGS"] == nil { try? FileManager.default.removeItem(at: dir) } else { print("ops test files kept in \(dir.path)") }
    }

    static func tool(_ name: String, reason: String) throws -> String {
        for d in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] where FileManager.default.isExecutableFile(atPath: "\(d)/\(name)") { return "\(d)/\(name)" }
        throw XCTSkip("\(name) not installed (\(reason)); `bash scripts/setup.sh` installs it")
    }

    /// A Python that can import `module`: $SOFTRL_PYTHON, ./.venv, /work/venv-ops, then python3.
    static func python(with module: String) throws -> String {
        var c: [String] = []
        if let p = ProcessInfo.processInfo.environment["SOFTRL_PYTHON"] { c.append(p) }
        c += [repoRoot.appendingPathComponent(".venv/bin/python").path, "/work/venv-ops/bin/python", "/usr/bin/python3"]
        for p in c where FileManager.default.isExecutableFile(atPath: p) {
            if (try? run(p, ["-c", "import \(module)"]))?.status == 0 { return p }
        }
        throw XCTSkip("no Python with `\(module)` (tried \(c)); `python3 -m venv .venv && .venv/bin/pip install \(module)` or set SOFTRL_PYTHON")
    }

    /// Runs a program to completion (bounded), returning status and combined output.
    @discardableResult
    static func run(_ path: String, _ args: [String], stdin: String? = nil, timeout: Double = 120, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path); p.arguments = args
        let out = Pipe(); p.standardOutput = out; p.standardError = out
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let inPipe = Pipe()
        if stdin != nil { p.standardInput = inPipe }
        try p.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)); try? inPipe.fileHandleForWriting.close() }
        final class Box: @unchecked Sendable { var data = Data() }
        let box = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue(label: "ops.read").async { box.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let end = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < end { usleep(20_000) }
        if p.isRunning { p.terminate(); usleep(200_000); if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        p.waitUntilExit()
        group.wait()
        return (p.terminationStatus, String(decoding: box.data, as: UTF8.self))
    }

    @discardableResult
    func spawn(_ path: String, _ args: [String], log name: String, environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path); p.arguments = args
        let url = dir.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let h = try FileHandle(forWritingTo: url)
        p.standardOutput = h; p.standardError = h
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        try p.run()
        processes.append(p)
        return p
    }

    func softrl(_ args: [String], log name: String) throws -> Process { try spawn(exe.path, args, log: name) }

    func log(_ name: String) -> String { (try? String(contentsOf: dir.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? "" }

    /// Polls every 100 ms for at most `timeout` seconds.
    func waitUntil(_ timeout: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if condition() { return true }; usleep(100_000) }
        return condition()
    }

    static func freePort() throws -> Int {
        let s = try MetricsHTTPServer(host: "127.0.0.1", port: 0) { [] }
        defer { s.stop() }
        return s.port
    }

    /// Small, fast RL settings for runs in tests: a 5-step warm-start and 2 prompts x 2 samples per update.
    static let tinyRun = ["--sft-steps", "5", "--group-size", "2", "--prompts", "2", "--mode", "soft"]
}
