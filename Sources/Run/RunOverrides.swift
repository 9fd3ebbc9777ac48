// Every RL and task setting a user can give, as one Codable value of optionals (nil: not given). The command
// line's flags are its fields under the same names (the flag of `klBeta` is --kl-beta), a run resolves from it
// (defaults, then the --config file, then the fields), a resume checks it (naming each field it ignores), and
// `softrl local` derives its learner's config from it. A setting is added here, once.
import Foundation
import PolicyGradient
import SoftTokens
import Tasks

public struct RunOverrides: Codable, Sendable, Equatable {
    // The task (TaskOptions).
    public var task: String?
    public var taskSeed: UInt64?
    public var mnnsDigits: Int?
    public var reachNodes: Int?
    public var arithDigits: Int?
    public var tokenizer: String?
    public var promptTemplate: String?
    public var endOfThinking: String?
    public var verifier: String?
    public var wordLevel: Int?
    public var wordCount: Int?
    // The RL run (RLConfig).
    /// A JSON file over RLConfig's defaults, read before the other fields (ConfigFile).
    public var config: String?
    public var mode: ThinkingMode?
    public var steps: Int?
    public var groupSize: Int?
    public var prompts: Int?
    public var lr: Double?
    public var advantage: AdvantageEstimator?
    public var loss: LossKind?
    public var klBeta: Double?
    public var dynamicSampling: Bool?
    public var maxStaleness: Int?
    public var noiseScale: Double?
    public var seed: UInt64?
    /// The learner's micro-batch, "8" (rollouts) or "2048 tokens" (MicroBatchSize): memory per pass only, so a
    /// resume may change it.
    public var microBatch: String?

    public init() {}

    /// Every field's name, in declaration order.
    public static let keys: [String] = Mirror(reflecting: RunOverrides()).children.compactMap(\.label)

    /// The names of the fields that are set, in declaration order.
    public var given: [String] {
        // Encoding omits nil optionals, so the encoded keys are the set fields.
        let object =
            (try? JSONEncoder().encode(self)).flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any]
            ?? [:]
        return Self.keys.filter { object[$0] != nil }
    }

    /// The command-line flag of a field: its name in kebab case (`klBeta` -> `--kl-beta`), as ArgumentParser names
    /// a property.
    public static func flag(_ key: String) -> String {
        var out = "--"
        for c in key {
            if c.isUppercase { out += "-" + c.lowercased() } else { out.append(c) }
        }
        return out
    }

    /// The value with the fields given in a JSON object (e.g. from command-line flags) set; an unknown name is an error.
    public init(fields: [String: Any]) throws {
        let unknown = fields.keys.filter { !Self.keys.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw ConfigFileError(
                description:
                    "unknown setting(s) \(unknown.joined(separator: ", ")); known: \(Self.keys.joined(separator: ", "))"
            )
        }
        let data = try JSONSerialization.data(withJSONObject: fields)
        do { self = try JSONDecoder().decode(RunOverrides.self, from: data) } catch {
            throw ConfigFileError(description: "a setting has the wrong type (\(ConfigFile.describe(error)))")
        }
    }

    /// The task's name and options: defaults, then the task fields.
    public func taskSelection(over name: String = RLConfig().task, _ base: TaskOptions = TaskOptions()) -> (
        name: String, options: TaskOptions
    ) {
        var o = base
        if let v = taskSeed { o.seed = v }
        if let v = mnnsDigits { o.mnnsDigits = v }
        if let v = reachNodes { o.reachNodes = v }
        if let v = arithDigits { o.arithDigits = v }
        if let v = tokenizer { o.tokenizer = v }
        if let v = promptTemplate { o.promptTemplate = v }
        if let v = endOfThinking { o.endOfThinking = v }
        if let v = verifier { o.verifier = v }
        if let v = wordLevel { o.wordLevel = v }
        if let v = wordCount { o.wordCount = v }
        return (task ?? name, o)
    }

    /// The task these fields select.
    public func makeTask() throws -> any ReasoningTask {
        let (name, options) = taskSelection()
        return try TaskCatalog.make(name: name, options: options)
    }

    /// `config` with every set field applied (the config file is not read here: see `resolve`).
    public func apply(to config: RLConfig) -> RLConfig {
        var cfg = config
        (cfg.task, cfg.taskOptions) = taskSelection(over: cfg.task, cfg.taskOptions)
        if let v = mode { cfg.sampler.mode = v }
        if let v = steps { cfg.steps = v }
        if let v = groupSize { cfg.groupSize = v }
        if let v = prompts { cfg.promptsPerStep = v }
        if let v = lr { cfg.learningRate = v }
        if let v = advantage { cfg.advantage = v }
        if let v = loss { cfg.loss.kind = v }
        if let v = klBeta { cfg.loss.klBeta = v }
        if let v = dynamicSampling { cfg.dynamicSampling = v }
        if let v = maxStaleness { cfg.maxStaleness = v }
        if let v = noiseScale { cfg.sampler.noiseScale = v }
        if let v = seed { cfg.seed = v }
        if let v = microBatch, let m = MicroBatchSize(parsing: v) { cfg.microBatch = m }
        return cfg
    }

    /// A new run's config: RLConfig's defaults, then the `config` file, then the other fields; gamma, unless the
    /// file or a field sets it, by NoiseScale's rule for the run's task. Validated.
    public func resolve() throws -> RLConfig { try newRun().config }

    /// A --micro-batch that does not parse is an error, not a silent default.
    func checkMicroBatch() throws {
        if let v = microBatch, MicroBatchSize(parsing: v) == nil {
            throw ConfigFileError(
                description:
                    "--micro-batch \(v): give a count of rollouts (--micro-batch 8) or of sequence positions (--micro-batch 2048tokens), at least 1"
            )
        }
    }

    /// A new run's config (see `resolve`) and the line that says which gamma it uses and why.
    public func newRun() throws -> RunPlan {
        try checkMicroBatch()
        var cfg = RLConfig()
        var gammaSource: String?, lrSource: String?
        if let path = config {
            let object = try ConfigFile.object(path)
            cfg = try ConfigFile.apply(object, over: cfg, source: path)
            if (object["sampler"] as? [String: Any])?["noiseScale"] != nil {
                gammaSource = "set by the config file \(path)"
            }
            if object["learningRate"] != nil { lrSource = "set by the config file \(path)" }
        }
        cfg = apply(to: cfg)
        if noiseScale != nil { gammaSource = "set by --noise-scale" }
        if lr != nil { lrSource = "set by --lr" }
        // Gamma and the learning rate depend on whether the model is pretrained; the task says which.
        if gammaSource == nil {
            let rule = NoiseScale.rule(for: cfg.taskOptions)
            cfg.sampler.noiseScale = rule.gamma
            gammaSource = rule.reason + " (--noise-scale sets it)"
        }
        if lrSource == nil {
            let rule = LearningRateRule.rule(for: cfg.taskOptions)
            cfg.learningRate = rule.lr
            lrSource = rule.reason + " (--lr sets it)"
        }
        try cfg.validate()
        var plan = RunPlan(config: cfg)
        plan.notes.append("noise gamma \(cfg.sampler.noiseScale): \(gammaSource!)")
        plan.notes.append("learning rate \(cfg.learningRate): \(lrSource!)")
        return plan
    }

    /// The config a learner runs with and what to print about it: a new run's resolved here, a resumed run's from
    /// its checkpoint (`saved`); or one resolved already by `softrl local` (`handedOver`), which reported on it and
    /// which, for a resume, may differ from the checkpoint's only in what a resume may change.
    public func plan(saved: RLConfig?, handedOver: RLConfig?) throws -> RunPlan {
        guard let handed = handedOver else { return try saved.map(resume) ?? newRun() }
        guard given.isEmpty else {
            throw ConfigFileError(
                description:
                    "a handed-over run config carries every setting: give no RL or task flags with it (got \(given.map(Self.flag).joined(separator: " ")))"
            )
        }
        try handed.validate()
        if let saved {
            var resumable = RunOverrides()
            resumable.steps = handed.steps; resumable.lr = handed.learningRate;
            resumable.maxStaleness = handed.maxStaleness
            resumable.microBatch = handed.microBatch?.description
            guard try resumable.resume(saved).config == handed else {
                throw ConfigFileError(
                    description:
                        "the handed-over run config is not this run's (it differs from the checkpoint's in more than \(Self.changeableOnResume.map(Self.flag).joined(separator: ", "))): resume with the run's own settings or start a new run"
                )
            }
        }
        return RunPlan(config: handed)
    }

    /// Fields a resumed run may change: how far to go, the learning rate, the staleness bound.
    public static let changeableOnResume = ["steps", "lr", "maxStaleness", "microBatch"]

    /// A resumed run's config: the checkpoint's, with the changeable fields applied. Every other field that is
    /// set is named (as its flag) in `ignored`, never dropped silently.
    public func resume(_ saved: RLConfig) throws -> RunPlan {
        var plan = RunPlan(config: saved)
        if let s = steps, s != saved.steps {
            plan.changed.append("steps \(saved.steps) -> \(s)"); plan.config.steps = s
        }
        if let l = lr, l != saved.learningRate {
            plan.changed.append("lr \(saved.learningRate) -> \(l)"); plan.config.learningRate = l
        }
        if let k = maxStaleness, k != saved.maxStaleness {
            plan.changed.append("max staleness \(saved.maxStaleness) -> \(k)"); plan.config.maxStaleness = k
        }
        try checkMicroBatch()
        if let v = microBatch, let m = MicroBatchSize(parsing: v), m != saved.microBatch {
            plan.changed.append("micro-batch \(saved.microBatch?.description ?? "automatic") -> \(m)");
            plan.config.microBatch = m
        }
        try plan.config.validate()
        plan.ignored = given.filter { !Self.changeableOnResume.contains($0) }.map(Self.flag)
        return plan
    }
}

/// The config a run goes with, and what to tell the user about it.
public struct RunPlan: Sendable, Equatable {
    public var config: RLConfig
    /// Lines about a new run's settings (which gamma, and why).
    public var notes: [String] = []
    /// "steps 200 -> 300", ...: applied.
    public var changed: [String] = []
    /// Flags given that a resume cannot apply, e.g. "--group-size".
    public var ignored: [String] = []

    public init(config: RLConfig) { self.config = config }

    /// The lines to print: the notes, what changed, what was ignored and how to change it instead.
    public var messages: [String] {
        var lines = notes
        if !changed.isEmpty {
            lines.append("resume: changed \(changed.joined(separator: ", ")) (safe to change between sessions)")
        }
        if !ignored.isEmpty {
            let allowed = RunOverrides.changeableOnResume.map(RunOverrides.flag)
            lines.append(
                "resume: IGNORED \(ignored.joined(separator: " ")): a resumed run keeps its checkpoint's settings; only "
                    + "\(allowed.dropLast().joined(separator: ", ")) and \(allowed.last!) may change (start over with --fresh / a new run directory to change the others)"
            )
        }
        return lines
    }
}
