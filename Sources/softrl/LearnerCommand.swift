// `softrl learner`: binds, hands out work, trains, broadcasts weights. Wiring only: the service is in Cluster
// (LearnerService.open decides between a new run and a resume), the run's settings in Run.
import ArgumentParser
import Cluster
import Foundation
import Monitoring
import MPIReduction
import Run
import TensorMath

struct LearnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learner", abstract: "Run the learner: bind, hand out work, train, broadcast weights.")
    @OptionGroup var taskOptions: TaskOptionsGroup
    @OptionGroup var rl: RLOptionsGroup
    @Option(help: "ZeroMQ endpoint to bind (tcp://HOST:PORT; PORT * picks a free one).") var bind: String =
        "tcp://0.0.0.0:5555"
    @Option(help: "Base checkpoint (from `softrl sft`) for a new run.") var base: String?
    @Option(help: "Continue the run whose checkpoint is in this run directory.") var resume: String?
    @Option(
        help:
            "The run's whole resolved config (rl_config.json, as `softrl local` writes it) instead of RL and task flags; with --resume only the settings a resume may change (\(RunOverrides.changeableOnResume.joined(separator: ", "))) may differ from the checkpoint's."
    )
    var runConfig: String?
    @Option(help: "Run directory: metrics.jsonl, checkpoint/, learner.endpoint.") var runDir: String = "runs/learner"
    @Option(help: "Checkpoint every N updates (and on exit).") var checkpointEvery: Int =
        LearnerOptions.defaultCheckpointEvery
    @Option(help: "Heartbeat period in ms.") var heartbeatMs: Int = 1000
    @Option(help: "Re-issue work not returned within this many seconds.") var workTimeout: Double = 300
    @Option(
        help:
            "Relay fan-out: actors the learner, and each relaying actor (`actor --relay-bind`), send a weights version to; 0 = every actor fetches from the learner."
    )
    var relayFanout: Int = ClusterRules().relayFanout
    @Option(help: "Close a connection that has not said Hello this many seconds after it was accepted (0 = never).")
    var helloDeadline: Double = ClusterRules().helloDeadlineSeconds
    @Option(
        help:
            "Warn about an actor whose rollouts' mean |learner - behaviour| log-prob per action exceeds this many nats."
    )
    var gapWarning: Double = ClusterRules().logProbGapWarning
    @Option(
        help:
            "Learner threads: each scores and differentiates its share of an update's micro-batches with one OpenBLAS thread."
    ) var threads: Int = 1
    @Option(
        help:
            "Key directory: learner.key_secret, learner.key and allowed_actors (CURVE: encrypted links, only allowed actor keys; `softrl keys generate`)."
    ) var keys: String?
    @Flag(help: "Allow a non-loopback --bind without --keys: unauthenticated, unencrypted (trusted networks only).")
    var insecure = false
    @Option(
        help:
            "Weights sent to actors: f32 (exact) or bf16 (half the bytes, rounded to nearest even; the learner keeps fp32)."
    ) var wireWeights: String = "f32"
    @Option(
        help:
            "Train problems whose prompt leaves no room in the model's positions for the thinking and answer limits: refuse (do not start, name them) or skip (train on the rest; counted as quarantined)."
    )
    var unfitProblems: String = LearnerOptions.UnfitProblems.refuse.rawValue
    @OptionGroup var metricsOptions: MetricsOptionsGroup

    func validate() throws {
        guard LearnerOptions.UnfitProblems(rawValue: unfitProblems) != nil else {
            throw CLIError("--unfit-problems \(unfitProblems) must be refuse or skip")
        }
        if let why = LearnerOptions.refusal(checkpointEvery: checkpointEvery) { throw CLIError(why) }
        if base == nil && resume == nil {
            throw CLIError("give --base CHECKPOINT for a new run or --resume RUN_DIR to continue one")
        }
        // Trust: fail closed on reachable addresses.
        if let why = ClusterSecurity.refusalToStart(bind: bind, keys: keys, insecure: insecure) { throw CLIError(why) }
        guard (0...1024).contains(relayFanout) else {
            throw CLIError("--relay-fanout \(relayFanout) must be 0 (relays off) to 1024")
        }
        guard helloDeadline == 0 || (0.5...3600).contains(helloDeadline) else {
            throw CLIError("--hello-deadline \(helloDeadline) must be 0 (none) or 0.5 to 3600 seconds")
        }
        guard gapWarning > 0 && gapWarning.isFinite else {
            throw CLIError(
                "--gap-warning \(gapWarning) must be a positive number of nats (default \(ClusterRules().logProbGapWarning))"
            )
        }
        do { _ = try WeightsWireFormat(flag: wireWeights) } catch { throw CLIError("\(error)") }
    }

    func run() throws {
        BLASThreads.set(1) // the learner's threads are its parallelism, one BLAS thread each
        ProcessControl.installStopHandlers()
        // Several ranks (mpirun/srun): rank 0 is the learner below, the others follow it (LearnerRanks.swift).
        let ranks = MPILaunch.isMultiRank() ? try MPIProcessGroup() : nil
        defer { ranks?.finalize() }
        if let ranks, ranks.rank > 0 {
            try LearnerRankFollower.run(group: ranks) {
                PolicyLearner.forRun(model: $0, config: $1, endOfThinking: $2, reducer: $3, threads: threads)
            }
            return
        }
        ClusterSecurity.installReloadHandler() // SIGHUP re-reads the allow-list
        var options = LearnerOptions(runDirectory: URL(fileURLWithPath: runDir))
        options.threads = threads
        options.keys = keys.map { URL(fileURLWithPath: $0) }
        if keys == nil && !ClusterSecurity.isLoopback(bind) {
            print(
                "WARNING: --insecure: \(bind) accepts unauthenticated, unencrypted connections from anyone who can reach it"
            )
        }
        options.bind = bind; options.checkpointEvery = checkpointEvery
        options.wireWeights = try WeightsWireFormat(flag: wireWeights)
        options.unfitProblems = LearnerOptions.UnfitProblems(rawValue: unfitProblems) ?? .refuse
        options.rules.heartbeatIntervalMs = heartbeatMs; options.rules.workTimeoutSeconds = workTimeout
        options.rules.relayFanout = relayFanout; options.rules.helloDeadlineSeconds = helloDeadline
        options.rules.logProbGapWarning = gapWarning
        let service = try LearnerService.open(
            resume.map { .resume($0) } ?? .new(base: base!), settings: try rl.overrides(task: taskOptions),
            handedOver: try runConfig.map(RunConfigFile.read), options: options, ranks: ranks)
        // The run's config beside its checkpoints, for whatever reads them later (`softrl eval`).
        try RunConfigFile.write(service.config, into: service.runDirectory)
        // MONITORING HOOK (wiring): metadata once per run, TensorBoard scalars, the Prometheus endpoint if asked.
        try RunMetadata(
            runId: service.runId, config: service.config, model: service.model.config,
            parameters: service.model.parameterCount
        ).write(to: service.runDirectory)
        let monitor = try LearnerMonitor(runDirectory: service.runDirectory, endpoint: metricsOptions.endpoint)
        monitor.attach(to: service)
        defer { monitor.close() }
        try service.run()
    }
}

extension MPIProcessGroup: LearnerRankGroup {}
