// Cluster commands: `learner` (binds, trains, serves weights), `actor` (connects, generates), and `local`
// (the README's main job: SFT warm-start if needed, a learner and N actor processes on this machine, then the
// evaluation table). Wiring only: the services are in the Cluster module.
import ArgumentParser
import Foundation
import Cluster
import Monitoring
import PolicyGradient
import SoftTokens
import TensorMath
import TransformerLM
import Tasks

struct LearnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "learner", abstract: "Run the learner: bind, hand out work, train, broadcast weights.")
    @OptionGroup var taskOptions: TaskOptionsGroup
    @OptionGroup var rl: RLOptionsGroup
    @Option(help: "ZeroMQ endpoint to bind (tcp://HOST:PORT; PORT * picks a free one).") var bind: String = "tcp://0.0.0.0:5555"
    @Option(help: "Base checkpoint (from `softrl sft`) for a new run.") var base: String?
    @Option(help: "Continue the run whose checkpoint is in this run directory.") var resume: String?
    @Option(help: "Run directory: metrics.jsonl, checkpoint/, learner.endpoint.") var runDir: String = "runs/learner"
    @Option(help: "Checkpoint every N updates (and on exit).") var checkpointEvery: Int = 20
    @Option(help: "Heartbeat period in ms.") var heartbeatMs: Int = 1000
    @Option(help: "Re-issue work not returned within this many seconds.") var workTimeout: Double = 300
    @Option(help: "Relay fan-out: actors the learner, and each relaying actor (`actor --relay-bind`), send a weights version to; 0 = every actor fetches from the learner.")
    var relayFanout: Int = ClusterRules().relayFanout
    @Option(help: "Close a connection that has not said Hello this many seconds after it was accepted (0 = never).")
    var helloDeadline: Double = ClusterRules().helloDeadlineSeconds
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Option(help: "Key directory: learner.key_secret, learner.key and allowed_actors (CURVE: encrypted links, only allowed actor keys; `softrl keys generate`).") var keys: String?
    @Flag(help: "Allow a non-loopback --bind without --keys: unauthenticated, unencrypted (trusted networks only).") var insecure = false
    @Option(help: "Weights sent to actors: f32 (exact) or bf16 (half the bytes, rounded to nearest even; the learner keeps fp32).") var wireWeights: String = "f32"
    @Option(help: "Train problems whose prompt leaves no room in the model's positions for the thinking and answer limits: refuse (do not start, name them) or skip (train on the rest; counted as quarantined).")
    var unfitProblems: String = LearnerOptions.UnfitProblems.refuse.rawValue
    @OptionGroup var metricsOptions: MetricsOptionsGroup

    func validate() throws {
        guard LearnerOptions.UnfitProblems(rawValue: unfitProblems) != nil else { throw ValidationError("--unfit-problems \(unfitProblems) must be refuse or skip") }
        if base == nil && resume == nil { throw ValidationError("give --base CHECKPOINT for a new run or --resume RUN_DIR to continue one") }
        // Trust (issue 9): fail closed on reachable addresses.
        if let why = ClusterSecurity.refusalToStart(bind: bind, keys: keys, insecure: insecure) { throw ValidationError(why) }
        guard (0...1024).contains(relayFanout) else { throw ValidationError("--relay-fanout \(relayFanout) must be 0 (relays off) to 1024") }
        guard helloDeadline == 0 || (0.5...3600).contains(helloDeadline) else { throw ValidationError("--hello-deadline \(helloDeadline) must be 0 (none) or 0.5 to 3600 seconds") }
        do { _ = try WeightsWireFormat(flag: wireWeights) } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        BLASThreads.set(threads)
        ProcessControl.installStopHandlers()
        ClusterSecurity.installReloadHandler()   // SIGHUP re-reads the allow-list
        var options = LearnerOptions(runDirectory: URL(fileURLWithPath: runDir))
        options.keys = keys.map { URL(fileURLWithPath: $0) }
        if keys == nil && !ClusterSecurity.isLoopback(bind) { print("WARNING: --insecure: \(bind) accepts unauthenticated, unencrypted connections from anyone who can reach it") }
        options.bind = bind; options.checkpointEvery = checkpointEvery
        options.wireWeights = try WeightsWireFormat(flag: wireWeights)
        options.unfitProblems = LearnerOptions.UnfitProblems(rawValue: unfitProblems) ?? .refuse
        options.rules.heartbeatIntervalMs = heartbeatMs; options.rules.workTimeoutSeconds = workTimeout
        options.rules.relayFanout = relayFanout; options.rules.helloDeadlineSeconds = helloDeadline
        let service: LearnerService
        if let resume {
            let dir = try LearnerCheckpoint.locate(resume)
            let (model, opt, state) = try LearnerCheckpoint.load(dir)
            let cfg = try ResumeFlags.apply(rl, to: state.config)
            let task = try TaskCatalog.make(name: cfg.task, options: cfg.taskOptions)
            options.runDirectory = URL(fileURLWithPath: resume)
            if FileManager.default.fileExists(atPath: URL(fileURLWithPath: resume).appendingPathComponent("learner_state.json").path) {
                options.runDirectory = URL(fileURLWithPath: resume).deletingLastPathComponent()
            }
            print("resuming run \(state.runId) at step \(state.step) from \(dir.path); \(state.outstandingPositions.count) in-flight prompt(s) will be re-issued")
            service = try LearnerService(model: model, config: cfg, task: task, options: options, resume: (opt, state))
        } else {
            let task = try taskOptions.make()
            let cfg = try rl.resolve(task: taskOptions)
            let model = try loadModel(base!, for: task)
            service = try LearnerService(model: model, config: cfg, task: task, options: options)
        }
        // MONITORING HOOK (wiring): metadata once per run, TensorBoard scalars, the Prometheus endpoint if asked.
        try RunMetadata(runId: service.runId, config: service.config, model: service.model.config,
                        parameters: service.model.parameterCount).write(to: options.runDirectory)
        let monitor = try LearnerMonitor(runDirectory: options.runDirectory, endpoint: metricsOptions.endpoint)
        monitor.attach(to: service)
        defer { monitor.close() }
        try service.run()
    }
}

struct ActorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "actor", abstract: "Run an actor: connect to a learner and generate rollouts.")
    @Option(help: "Learner endpoint, e.g. tcp://learner-host:5555.") var connect: String
    @Option(help: "Actor id (unique in the cluster; default host-pid, or with --keys the name of the key).") var id: String?
    @Option(help: "Groups generated together per batch.") var slots: Int = 2
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Option(help: "Key directory: this actor's NAME.key_secret/NAME.key (NAME = --id, or the only one there) and the learner's learner.key.") var keys: String?
    @Option(help: "Relay: serve the weights this actor holds to other actors at this endpoint (tcp://*:PORT; PORT * picks a free one). With --keys: CURVE, serving only the keys in KEYS/allowed_actors (copy the learner's).")
    var relayBind: String?
    @Option(help: "Relay endpoint to announce, if others must dial another address than --relay-bind's (default: it, with * replaced by this host's name).")
    var relayAdvertise: String?
    @Flag(help: "Log the SHA-256 of the fp32 weights after each load (checks bf16 wire rounding end to end; costs a hash of the model per version).") var logWeightsDigest = false
    @OptionGroup var metricsOptions: MetricsOptionsGroup

    func validate() throws {
        guard ["tcp://", "ipc://", "inproc://"].contains(where: connect.hasPrefix) else {
            throw ValidationError("--connect '\(connect)' is not a ZeroMQ endpoint: use tcp://HOST:PORT, e.g. tcp://learner-host:5555")
        }
        if relayBind != nil, let keys, !FileManager.default.fileExists(atPath: URL(fileURLWithPath: keys).appendingPathComponent(ClusterSecurity.allowListName).path) {
            throw ValidationError("--relay-bind with --keys needs the cluster's allow-list in \(keys) (the relay serves weights only to those keys): copy the learner's keys/\(ClusterSecurity.allowListName) there")
        }
        if relayBind == nil && relayAdvertise != nil { throw ValidationError("--relay-advertise needs --relay-bind") }
        for (flag, e) in [("--relay-bind", relayBind), ("--relay-advertise", relayAdvertise)] {
            if let e, !(e.hasPrefix("tcp://") || e.hasPrefix("ipc://")) { throw ValidationError("\(flag) '\(e)' is not a ZeroMQ endpoint: use tcp://HOST:PORT, e.g. tcp://*:5601") }
        }
    }

    func run() throws {
        BLASThreads.set(threads)
        ProcessControl.installStopHandlers()
        var options = ActorOptions()
        options.connect = connect
        if let keys {
            let k = try ActorKeys(directory: URL(fileURLWithPath: keys), name: id)
            options.keys = k
            options.actorId = k.name   // the learner knows this actor by its key's allowed name
        }
        if let id { options.actorId = id }
        options.slots = max(1, slots)
        options.relayBind = relayBind; options.relayAdvertise = relayAdvertise
        options.logWeightsDigest = logWeightsDigest
        let service = ActorService(options: options)
        // MONITORING HOOK (wiring): the actor's Prometheus endpoint, if asked.
        var monitor: ActorMonitor?
        if metricsOptions.metricsPort != nil {
            monitor = try ActorMonitor(actorId: options.actorId, endpoint: metricsOptions.endpoint)
            monitor?.attach(to: service)
        }
        defer { monitor?.close() }
        try service.run()
    }
}

struct LocalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Learner and N actor processes on this machine; SFT warm-start first if no base is given; ends with the eval table.")
    @OptionGroup var taskOptions: TaskOptionsGroup
    @OptionGroup var rl: RLOptionsGroup
    @Option(help: "Actor processes. (--max-staleness defaults to 0 here: synchronous on-policy.)") var actors: Int = 2
    @Option(help: "Run directory (a rerun with the same directory resumes).") var runDir: String = "runs/local"
    @Option(help: "Base checkpoint; default: SFT warm-start into RUN_DIR/sft.") var base: String?
    @Option(help: "SFT steps when warm-starting.") var sftSteps: Int = 300
    @Option(help: "Test problems in the final evaluation (0 skips it).") var evalProblems: Int = 500
    @Option(help: "Samples per problem in the final evaluation.") var evalSamples: Int = 32
    @Flag(help: "Start a fresh run even if RUN_DIR holds a checkpoint.") var fresh = false
    @Option(help: "Weights sent to actors: f32 (exact) or bf16 (half the bytes, rounded to nearest even; the learner keeps fp32).") var wireWeights: String = "f32"
    @Option(help: "Prompts generated together in the final evaluation (rows = this x samples; lower it for large models).") var evalBatchPrompts: Int = 8
    @Option(help: "Prometheus endpoints on loopback: the learner on this port, actor i on PORT+1+i (default: free ports). Their list is RUN_DIR/cluster/prometheus-targets.json.")
    var metricsPort: Int?

    func run() throws {
        ProcessControl.installStopHandlers()
        BLASThreads.set(2)
        let fm = FileManager.default
        let root = URL(fileURLWithPath: runDir)
        let clusterDir = root.appendingPathComponent("cluster")
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let task = try taskOptions.make()
        _ = try rl.resolve(task: taskOptions)   // fail on bad flags before any work
        do { _ = try WeightsWireFormat(flag: wireWeights) } catch { throw ValidationError("\(error)") }
        if task is TextTask && base == nil {
            throw ValidationError("task '\(task.name)' is a text task: give --base MODEL_DIR, the pretrained model its tokenizer belongs to (e.g. models/SmolLM2-135M-Instruct from scripts/get-smollm2.sh)")
        }
        let basePath = base ?? root.appendingPathComponent("sft").path
        if base == nil && !fm.fileExists(atPath: basePath + "/model.safetensors") {
            var sft = SFTConfig()
            sft.steps = sftSteps; sft.task = task.name; sft.taskOptions = taskOptions.options
            let model = try LlamaModel(config: .tiny(vocabSize: max(64, task.vocabulary.count)), seed: 0)
            print("== supervised warm-start: \(sftSteps) steps on \(task.name) (\(model.parameterCount) parameters)")
            let trainer = SupervisedTrainer(model: model, task: task, config: sft)
            for _ in 0..<sftSteps where !ProcessControl.stopRequested {
                let r = trainer.step()
                if r.step % 50 == 0 { print(String(format: "sft step %d | loss %.4f | %.0f ms", r.step, r.loss, r.milliseconds)) }
            }
            if ProcessControl.stopRequested { print("stopped during SFT; nothing saved"); return }
            try ModelCheckpoint.save(model, directory: URL(fileURLWithPath: basePath), metadata: ["softrl.stage": "sft"])
        }
        let resuming = !fresh && (try? LearnerCheckpoint.locate(clusterDir.path)) != nil
        if fresh { try? fm.removeItem(at: clusterDir) }
        try fm.createDirectory(at: clusterDir, withIntermediateDirectories: true)
        let endpointFile = clusterDir.appendingPathComponent("learner.endpoint")
        try? fm.removeItem(at: endpointFile)
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        // Trust (issue 9): fresh throw-away keys for this run (keys are cheap), so even loopback traffic is CURVE.
        let keysDir = try LocalKeys.make(in: clusterDir, actors: actors)
        var learnerArgs = ["learner", "--bind", "tcp://127.0.0.1:*", "--run-dir", clusterDir.path, "--threads", "1", "--keys", keysDir.learner.path]
        learnerArgs += resuming ? ["--resume", clusterDir.path] : ["--base", basePath]
        learnerArgs += forwardedArguments()
        // Synchronous by default here (the learner's own default is 1): on the tiny model one run each measured
        // pass@32 0.90 vs 0.72 and a rising vs flat training reward for staleness 0 vs 1 (README, "Results").
        // Not on a rerun: the run keeps its own setting unless --max-staleness is given (the learner says so).
        if rl.maxStaleness == nil && !resuming { learnerArgs += ["--max-staleness", "0"] }
        print(resuming ? "== resuming the cluster run in \(clusterDir.path)" : "== cluster: 1 learner + \(actors) actors on this machine (OpenBLAS: 1 thread each)")
        // Prometheus endpoints on loopback for every process, listed for a Prometheus file_sd config.
        let ports = LocalMetricsPorts.choose(count: actors + 1, base: metricsPort)
        learnerArgs += ["--metrics-port", "\(ports[0])"]
        try LocalMetricsPorts.writeTargets(ports, to: clusterDir.appendingPathComponent("prometheus-targets.json"))
        let learner = try spawn(exe, learnerArgs, log: nil)
        var waited = 0.0
        while !fm.fileExists(atPath: endpointFile.path) && learner.isRunning && waited < 60 && !ProcessControl.stopRequested { usleep(50_000); waited += 0.05 }
        guard let endpoint = try? String(contentsOf: endpointFile, encoding: .utf8) else {
            learner.terminate(); learner.waitUntilExit()
            throw ValidationError("the learner did not start (exit code \(learner.isRunning ? -1 : learner.terminationStatus)); see the messages above")
        }
        var actorProcs: [Process] = []
        for i in 0..<actors {
            let log = clusterDir.appendingPathComponent("actor-\(i).log")
            actorProcs.append(try spawn(exe, ["actor", "--connect", endpoint, "--id", "local-\(i)", "--threads", "1", "--metrics-port", "\(ports[i + 1])", "--keys", keysDir.actors.path], log: log))
        }
        print("   learner at \(endpoint); actor logs in \(clusterDir.path)/actor-*.log; metrics in \(clusterDir.path)/metrics.jsonl")
        while learner.isRunning {
            if ProcessControl.stopRequested { learner.terminate(); for a in actorProcs where a.isRunning { a.terminate() } ; break }
            usleep(100_000)
        }
        learner.waitUntilExit()
        for a in actorProcs where a.isRunning { a.terminate() }
        for a in actorProcs { a.waitUntilExit() }
        if ProcessControl.stopRequested {
            print("\nstopped; the checkpoint in \(clusterDir.path)/checkpoint is resumable: run the same command again")
            return
        }
        guard learner.terminationStatus == 0 else { throw ValidationError("the learner exited with status \(learner.terminationStatus)") }
        printRewardTrend(clusterDir.appendingPathComponent("metrics.jsonl"))
        guard evalProblems > 0 else { return }
        print("\n== evaluation on the \(task.name) test split (hard inference)")
        var reports: [EvalReport] = []
        var labels: [String] = []
        for (label, dir) in [("base (SFT)", basePath), ("after RL", clusterDir.appendingPathComponent("checkpoint").path)] {
            let model = try loadModel(dir, for: task)
            var ev = Evaluator(model: model, task: task, sampler: inferenceSampler(.hard, for: task))
            ev.samples = evalSamples; ev.problemLimit = evalProblems; ev.promptsPerBatch = max(1, evalBatchPrompts)
            reports.append(ev.run()); labels.append(label)
        }
        print(EvalTable.render(reports, labels: labels))
        try EvalRecord(base: reports[0], after: reports[1]).write(to: clusterDir)   // eval.json + TensorBoard eval/* scalars
    }

    /// Training reward is noisy step to step (4 prompts per update); averages over the first and last tenth show the trend.
    func printRewardTrend(_ metrics: URL) {
        guard let text = try? String(contentsOf: metrics, encoding: .utf8) else { return }
        let rewards = text.split(separator: "\n").compactMap { line -> (Double, Double)? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let r = o["rewardMean"] as? Double, let c = o["correctRate"] as? Double else { return nil }
            return (r, c)
        }
        guard rewards.count >= 10 else { return }
        let k = max(5, rewards.count / 10)
        func mean(_ xs: ArraySlice<(Double, Double)>) -> (Double, Double) {
            (xs.map(\.0).reduce(0, +) / Double(xs.count), xs.map(\.1).reduce(0, +) / Double(xs.count))
        }
        let (r0, c0) = mean(rewards.prefix(k)), (r1, c1) = mean(rewards.suffix(k))
        print(String(format: "\ntraining reward, mean of the first %d vs last %d updates: %.3f -> %.3f (correct %.3f -> %.3f)", k, k, r0, r1, c0, c1))
    }

    /// RL and task flags given to `local`, passed on to the learner unchanged.
    func forwardedArguments() -> [String] {
        let all = Array(CommandLine.arguments.dropFirst(2))
        let localOnly: Set<String> = ["--actors", "--run-dir", "--base", "--sft-steps", "--eval-problems", "--eval-samples", "--eval-batch-prompts", "--metrics-port"]
        var out: [String] = []
        var i = 0
        while i < all.count {
            let a = all[i]
            let name = a.split(separator: "=").first.map(String.init) ?? a
            if a == "--fresh" { i += 1; continue }
            if localOnly.contains(name) { i += a.contains("=") ? 1 : 2; continue }
            out.append(a); i += 1
        }
        return out
    }

    func spawn(_ exe: URL, _ args: [String], log: URL?) throws -> Process {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        if let log {
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let h = try FileHandle(forWritingTo: log)
            p.standardOutput = h; p.standardError = h
        }
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"   // each process gets one core's worth of BLAS; they share 2 cores
        p.environment = env
        try p.run()
        return p
    }
}

