// Shared plumbing of the operator's-view tests: finds the built `softrl`, runs programs with logs in a temporary
// directory, finds tools (prometheus, promtool, tmux, chromium, a Python with tensorboard) or skips with the
// reason, picks free loopback ports, and polls with bounded waits (a hang fails the test, it never stalls CI).
import XCTest
import Foundation
import Monitoring
import SoftRLTestSupport
import TensorMath

final class OpsHarness {
    static let repoRoot = SoftRLBinary.repoRoot
    let exe: URL
    let dir: URL
    private(set) var processes: [Child] = []

    init(name: String) throws {
        let fm = FileManager.default
        exe = try SoftRLBinary.find()
        dir = fm.temporaryDirectory.appendingPathComponent("softrl-ops-\(name)-\(UUID().uuidString.prefix(6))")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// Kills what it started (SIGTERM, then SIGKILL after a bounded wait) and removes the directory
    /// unless SOFTRL_KEEP_LOGS is set.
    func shutdown() {
        for p in processes where p.isRunning { p.terminate() }
        _ = waitUntil(15) { self.processes.allSatisfy { !$0.isRunning } }
        for p in processes where p.isRunning { kill(p.pid, SIGKILL) }
        _ = waitUntil(10) { self.processes.allSatisfy { !$0.isRunning } }
        if ProcessInfo.processInfo.environment["SOFTRL_KEEP_LOGS"] == nil {
            try? FileManager.default.removeItem(at: dir)
        } else {
            print("ops test files kept in \(dir.path)")
        }
    }

    static func tool(_ name: String, reason: String) throws -> String {
        for d in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"]
        where FileManager.default.isExecutableFile(atPath: "\(d)/\(name)") { return "\(d)/\(name)" }
        throw XCTSkip("\(name) not installed (\(reason)); `bash scripts/setup.sh` installs it")
    }

    /// A Python that can import `module` (TensorMath.ReferencePython: $SOFTRL_PYTHON, .venv, python3), or a skip saying why.
    static func python(with module: String) throws -> String {
        do { return try ReferencePython.find(repositoryRoot: repoRoot, importing: [module]).get() } catch {
            throw XCTSkip("\(error)")
        }
    }

    /// Runs a program to completion (bounded), returning status and combined output (read from a file once it
    /// has exited, so a grandchild holding the output open cannot block us).
    @discardableResult
    static func run(
        _ path: String, _ args: [String], stdin: String? = nil, timeout: Double = 120,
        environment: [String: String] = [:]
    ) throws -> (status: Int32, output: String) {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "softrl-ops-run-\(UUID().uuidString.prefix(8))")
        defer {
            try? FileManager.default.removeItem(atPath: tmp.path + ".out");
            try? FileManager.default.removeItem(atPath: tmp.path + ".in")
        }
        var input: String? = nil
        if let stdin {
            try stdin.write(toFile: tmp.path + ".in", atomically: true, encoding: .utf8); input = tmp.path + ".in"
        }
        let child = try Child(path, args, output: tmp.path + ".out", input: input, environment: environment)
        let end = Date().addingTimeInterval(timeout)
        while child.isRunning && Date() < end { usleep(20_000) }
        if child.isRunning { child.terminate(); usleep(300_000); if child.isRunning { kill(child.pid, SIGKILL) } }
        while child.isRunning { usleep(20_000) }
        let output = (try? String(contentsOfFile: tmp.path + ".out", encoding: .utf8)) ?? ""
        return (child.terminationStatus, output)
    }

    @discardableResult
    func spawn(_ path: String, _ args: [String], log name: String, environment: [String: String] = [:]) throws -> Child
    {
        var env = environment
        if env["OPENBLAS_NUM_THREADS"] == nil { env["OPENBLAS_NUM_THREADS"] = "1" }
        let c = try Child(
            path, args, output: dir.appendingPathComponent("\(name).log").path, input: nil, environment: env)
        processes.append(c)
        return c
    }

    func softrl(_ args: [String], log name: String) throws -> Child { try spawn(exe.path, args, log: name) }

    func log(_ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

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

/// A child process started with posix_spawn and reaped with waitpid on its own pid. (Foundation's Process left
/// short-lived children as zombies, never reporting their exit, when slurmctld/slurmd were also children of the
/// test process; this does not depend on SIGCHLD delivery.) Output goes to a file; stdin from a file or /dev/null.
final class Child {
    let pid: pid_t
    private var status: Int32?

    init(_ path: String, _ args: [String], output: String, input: String?, environment: [String: String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var p: pid_t = 0
        let rc = posix_spawn(&p, path, &actions, nil, argv, envp)
        guard rc == 0 else {
            throw NSError(
                domain: "posix_spawn", code: Int(rc),
                userInfo: [NSLocalizedDescriptionKey: "cannot start \(path): \(String(cString: strerror(rc)))"])
        }
        pid = p
    }

    private func reap() {
        guard status == nil else { return }
        var st: Int32 = 0
        if waitpid(pid, &st, WNOHANG) == pid { status = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f) }
    }
    var isRunning: Bool { reap(); return status == nil }
    /// Exit code (128 + signal when killed by one); -1 while running.
    var terminationStatus: Int32 { reap(); return status ?? -1 }
    func terminate() { if isRunning { kill(pid, SIGTERM) } }
}
