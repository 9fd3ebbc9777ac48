// `softrl local`'s supervisor: starts a learner and N actors on this machine as child processes of the same
// executable, waits for the learner's endpoint, stops them all on Ctrl-C / SIGTERM, and reports how the learner
// ended. Process plumbing only: the caller resolves the learner's config and hands it over in a file.
import Foundation
import TransformerLM // ConfigError

public struct LocalClusterPlan: Sendable {
    /// The `softrl` executable the children run.
    public var executable: URL
    /// The learner's run directory (metrics, checkpoint, learner.endpoint, actor logs).
    public var runDirectory: URL
    public var actors: Int
    /// What the learner starts from and with, e.g. ["--base", B, "--run-config", FILE] or ["--resume", DIR, ...].
    public var learnerArguments: [String]
    /// CURVE key directories: the learner's (with the allow-list) and the actors' (one key each, local-0, ...).
    public var learnerKeys: URL
    public var actorKeys: URL
    /// Prometheus ports: the learner's, then actor i's.
    public var metricsPorts: [Int]
    /// Extra arguments for every actor (e.g. ["--compute", "bf16"]).
    public var actorArguments: [String]

    public init(
        executable: URL, runDirectory: URL, actors: Int, learnerArguments: [String], learnerKeys: URL,
        actorKeys: URL, metricsPorts: [Int], actorArguments: [String] = []
    ) {
        self.actorArguments = actorArguments
        self.executable = executable; self.runDirectory = runDirectory; self.actors = actors
        self.learnerArguments = learnerArguments; self.learnerKeys = learnerKeys; self.actorKeys = actorKeys
        self.metricsPorts = metricsPorts
    }

    public var endpointFile: URL { runDirectory.appendingPathComponent("learner.endpoint") }
    public func actorLog(_ i: Int) -> URL { runDirectory.appendingPathComponent("actor-\(i).log") }
}

public enum LocalClusterOutcome: Equatable, Sendable {
    /// The learner finished its steps and exited 0.
    case finished
    /// Ctrl-C / SIGTERM: every process was stopped; the learner wrote a resumable checkpoint.
    case stopped
}

public enum LocalCluster {
    /// Runs the learner and actors until the learner exits or a stop is requested. Prints the learner's endpoint;
    /// the learner writes to this process's stdout, each actor to its log.
    public static func run(_ plan: LocalClusterPlan) throws -> LocalClusterOutcome {
        let fm = FileManager.default
        try? fm.removeItem(at: plan.endpointFile)
        // Loopback with throw-away CURVE keys: even local traffic is authenticated and encrypted.
        // The learner takes the cores the actors leave (at least one).
        let learnerThreads = max(1, ProcessInfo.processInfo.activeProcessorCount - plan.actors)
        let learnerArgs =
            [
                "learner", "--bind", "tcp://127.0.0.1:*", "--run-dir", plan.runDirectory.path, "--threads",
                "\(learnerThreads)",
                "--keys", plan.learnerKeys.path, "--metrics-port", "\(plan.metricsPorts[0])"
            ] + plan.learnerArguments
        let learner = try spawn(plan.executable, learnerArgs, log: nil)
        var waited = 0.0
        while !fm.fileExists(atPath: plan.endpointFile.path) && learner.isRunning && waited < 60
            && !ProcessControl.stopRequested
        {
            usleep(50_000); waited += 0.05
        }
        guard let endpoint = try? String(contentsOf: plan.endpointFile, encoding: .utf8) else {
            learner.terminate(); learner.waitUntilExit()
            if ProcessControl.stopRequested { return .stopped }
            throw ConfigError(
                "the learner did not start (exit code \(learner.isRunning ? -1 : learner.terminationStatus)); see the messages above"
            )
        }
        var actors: [Process] = []
        for i in 0..<plan.actors {
            actors.append(
                try spawn(
                    plan.executable,
                    [
                        "actor", "--connect", endpoint, "--id", "local-\(i)", "--threads", "1",
                        "--metrics-port", "\(plan.metricsPorts[i + 1])", "--keys", plan.actorKeys.path
                    ] + plan.actorArguments,
                    log: plan.actorLog(i)))
        }
        print(
            "   learner at \(endpoint); actor logs in \(plan.runDirectory.path)/actor-*.log; metrics in \(plan.runDirectory.path)/metrics.jsonl"
        )
        while learner.isRunning {
            if ProcessControl.stopRequested {
                learner.terminate(); for a in actors where a.isRunning { a.terminate() }; break
            }
            usleep(100_000)
        }
        learner.waitUntilExit()
        for a in actors where a.isRunning { a.terminate() }
        for a in actors { a.waitUntilExit() }
        if ProcessControl.stopRequested { return .stopped }
        guard learner.terminationStatus == 0 else {
            throw ConfigError("the learner exited with status \(learner.terminationStatus)")
        }
        return .finished
    }

    static func spawn(_ exe: URL, _ args: [String], log: URL?) throws -> Process {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        if let log {
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let h = try FileHandle(forWritingTo: log)
            p.standardOutput = h; p.standardError = h
        }
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1" // each process gets one core's worth of BLAS; they share 2 cores
        p.environment = env
        try p.run()
        return p
    }
}
