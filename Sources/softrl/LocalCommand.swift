// `softrl local`, the README's main job: an SFT warm-start if no base is given, then a learner and N actor
// processes on this machine (Cluster.LocalCluster), then the evaluation table. The learner's config is resolved
// here, from the same settings as `softrl learner`'s (Run.RunOverrides), written to RUN_DIR/cluster/rl_config.json
// and handed to the learner whole; a rerun resumes, reporting what it changes and what it ignores.
import ArgumentParser
import Foundation
import Cluster
import Monitoring
import Run
import TensorMath
import TransformerLM
import Tasks

struct LocalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract:
            "Learner and N actor processes on this machine; SFT warm-start first if no base is given; ends with the eval table."
    )
    @OptionGroup var taskOptions: TaskOptionsGroup
    @OptionGroup var rl: RLOptionsGroup
    @Option(help: "Actor processes. (--max-staleness defaults to 0 here: synchronous on-policy.)") var actors: Int = 2
    @Option(help: "Run directory (a rerun with the same directory resumes).") var runDir: String = "runs/local"
    @Option(help: "Base checkpoint; default: SFT warm-start into RUN_DIR/sft.") var base: String?
    @Option(help: "SFT steps when warm-starting.") var sftSteps: Int = 300
    @Option(help: "Test problems in the final evaluation (0 skips it).") var evalProblems: Int = 500
    @Option(help: "Samples per problem in the final evaluation.") var evalSamples: Int = 32
    @Flag(help: "Start a fresh run even if RUN_DIR holds a checkpoint.") var fresh = false
    @Option(help: "Checkpoint every N updates (and on exit); a rerun resumes from the last.") var checkpointEvery: Int =
        LearnerOptions.defaultCheckpointEvery
    @Option(
        help:
            "Weights sent to actors: f32 (exact) or bf16 (half the bytes, rounded to nearest even; the learner keeps fp32)."
    ) var wireWeights: String = "f32"
    @Option(
        help: "Prompts generated together in the final evaluation (rows = this x samples; lower it for large models).")
    var evalBatchPrompts: Int = 8
    @OptionGroup var computeOptions: ComputeOptionsGroup
    @Option(
        help:
            "Train problems that cannot fit the model's positions: refuse (do not start, name them) or skip (train on the rest)."
    )
    var unfitProblems: String = LearnerOptions.UnfitProblems.refuse.rawValue
    @Option(
        help:
            "Prometheus endpoints on loopback: the learner on this port, actor i on PORT+1+i (default: free ports). Their list is RUN_DIR/cluster/prometheus-targets.json."
    )
    var metricsPort: Int?

    func validate() throws {
        if let why = LearnerOptions.refusal(checkpointEvery: checkpointEvery) { throw CLIError(why) }
    }

    func run() throws {
        ProcessControl.installStopHandlers()
        BLASThreads.set(2)
        let fm = FileManager.default
        let root = URL(fileURLWithPath: runDir), clusterDir = root.appendingPathComponent("cluster")
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        var settings = try rl.overrides(task: taskOptions)
        do { _ = try WeightsWireFormat(flag: wireWeights) } catch { throw CLIError("\(error)") }
        let resuming = !fresh && (try? LearnerCheckpoint.locate(clusterDir.path)) != nil
        // The learner's config: a rerun keeps the checkpoint's (with what a resume may change); a new run resolves
        // the flags, synchronous by default here (the learner's own default is 1): on the tiny model one run each
        // measured pass@32 0.90 vs 0.72 and a rising vs flat training reward for staleness 0 vs 1
        // (docs/SCALE.md, "Synchronous vs pipelined").
        let plan: RunPlan
        if resuming {
            plan = try settings.resume(LearnerCheckpoint.readState(LearnerCheckpoint.locate(clusterDir.path)).config)
        } else {
            if settings.maxStaleness == nil { settings.maxStaleness = 0 }
            plan = try settings.newRun()
        }
        let task = try TaskCatalog.make(name: plan.config.task, options: plan.config.taskOptions)
        if task is TextTask && base == nil {
            throw CLIError(
                "task '\(task.name)' is a text task: give --base MODEL_DIR, the pretrained model its tokenizer belongs to (e.g. models/SmolLM2-135M-Instruct from scripts/get-smollm2.sh)"
            )
        }
        let basePath = base ?? root.appendingPathComponent("sft").path
        if base == nil && !fm.fileExists(atPath: basePath + "/model.safetensors") {
            guard try warmStart(task, options: plan.config.taskOptions, into: basePath) else {
                print("stopped during SFT; nothing saved"); return
            }
        }
        if fresh { try? fm.removeItem(at: clusterDir) }
        let configFile = try RunConfigFile.write(plan.config, into: clusterDir)
        print(
            resuming
                ? "== resuming the cluster run in \(clusterDir.path)"
                : "== cluster: 1 learner + \(actors) actors on this machine (OpenBLAS: 1 thread each)")
        plan.messages.forEach { print($0) }
        let keys = try LocalKeys.make(in: clusterDir, actors: actors)
        let ports = LocalMetricsPorts.choose(count: actors + 1, base: metricsPort)
        try LocalMetricsPorts.writeTargets(ports, to: clusterDir.appendingPathComponent("prometheus-targets.json"))
        let start = resuming ? ["--resume", clusterDir.path] : ["--base", basePath]
        let cluster = LocalClusterPlan(
            executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(), runDirectory: clusterDir,
            actors: actors,
            learnerArguments: start + [
                "--run-config", configFile.path, "--wire-weights", wireWeights,
                "--unfit-problems", unfitProblems, "--checkpoint-every", String(checkpointEvery)
            ],
            learnerKeys: keys.learner, actorKeys: keys.actors, metricsPorts: ports,
            actorArguments: computeOptions.arguments)
        guard try LocalCluster.run(cluster) == .finished else {
            print("\nstopped; the checkpoint in \(clusterDir.path)/checkpoint is resumable: run the same command again")
            return
        }
        if let trend = RunData.load(clusterDir).rewardTrend { print("\n" + trend) }
        guard evalProblems > 0 else { return }
        print("\n== evaluation on the \(task.name) test split (hard inference)")
        var reports: [EvalReport] = []
        for dir in [basePath, clusterDir.appendingPathComponent("checkpoint").path] {
            var ev = Evaluator(
                model: try loadModel(dir, for: task), task: task,
                sampler: plan.config.inferenceSampler(.hard, for: task))
            ev.samples = evalSamples; ev.problemLimit = evalProblems; ev.promptsPerBatch = max(1, evalBatchPrompts)
            reports.append(ev.run())
        }
        print(EvalTable.render(reports, labels: ["base (SFT)", "after RL"]))
        try EvalRecord(base: reports[0], after: reports[1]).write(to: clusterDir) // eval.json + TensorBoard eval/* scalars
    }

    /// SFT of a fresh `tiny` model into `path`; false when stopped (nothing saved).
    func warmStart(_ task: any ReasoningTask, options: TaskOptions, into path: String) throws -> Bool {
        var sft = SFTConfig()
        sft.steps = sftSteps; sft.task = task.name; sft.taskOptions = options
        let model = try LlamaModel(config: .tiny(vocabSize: max(64, task.vocabulary.count)), seed: 0)
        print("== supervised warm-start: \(sftSteps) steps on \(task.name) (\(model.parameterCount) parameters)")
        let finished = try SupervisedTrainer(model: model, task: task, config: sft).run(shouldStop: {
            ProcessControl.stopRequested
        }) { r in
            if r.step % 50 == 0 {
                print(String(format: "sft step %d | loss %.4f | %.0f ms", r.step, r.loss, r.milliseconds))
            }
        }
        guard finished else { return false }
        try ModelCheckpoint.save(model, directory: URL(fileURLWithPath: path), metadata: ["softrl.stage": "sft"])
        return true
    }
}
