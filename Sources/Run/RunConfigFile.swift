// A run's resolved RLConfig, saved in its run directory as rl_config.json: `softrl local` hands it to its learner
// this way, and whatever reads one of the run's checkpoints later (`softrl eval`) uses the run's own settings.
import Foundation
import SoftTokens
import Tasks

public enum RunConfigFile {
    public static let name = "rl_config.json"

    /// Writes DIRECTORY/rl_config.json (atomically) and returns its URL.
    @discardableResult
    public static func write(_ config: RLConfig, into directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        let encoder = JSONEncoder(); encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(config).write(to: url, options: .atomic)
        return url
    }

    /// Reads a config file over RLConfig's defaults (ConfigFile: unknown keys are errors) and validates it.
    public static func read(_ path: String) throws -> RLConfig {
        let config = try ConfigFile.load(path, over: RLConfig())
        try config.validate()
        return config
    }

    /// The run config saved with a checkpoint: in the checkpoint's directory or in the run directory above it
    /// (a learner's RUN_DIR/checkpoint, `softrl local`'s RUN_DIR/cluster/checkpoint).
    public static func find(forCheckpoint checkpoint: URL) -> URL? {
        let candidates = [
            checkpoint.appendingPathComponent(name), checkpoint.deletingLastPathComponent().appendingPathComponent(name)
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }
}

/// The sampler `softrl eval` uses for a checkpoint: the settings of the run that made it (temperatures, gamma,
/// truncation, limits) when its run config is found, else a new run's for the task (gamma by NoiseScale's rule),
/// in the requested inference mode; flags override either.
public struct EvaluationSampler {
    public var sampler: SamplerConfig
    /// Where the settings came from, for the line `softrl eval` prints.
    public var source: String

    public init(
        checkpoint: URL, task: any ReasoningTask, taskSettings: RunOverrides, mode: ThinkingMode,
        noiseScale: Double?, thinkingLimit: Int?
    ) throws {
        var config: RLConfig
        if let url = RunConfigFile.find(forCheckpoint: checkpoint) {
            config = try RunConfigFile.read(url.path)
            source = "the run's settings (\(url.path))"
        } else {
            config = try taskSettings.resolve()
            source =
                "a new run's settings for the task (no \(RunConfigFile.name) beside the checkpoint or in its run directory; "
                + "gamma \(NoiseScale.rule(for: config.taskOptions).reason))"
        }
        var flags: [String] = []
        if let g = noiseScale { config.sampler.noiseScale = g; flags.append("--noise-scale") }
        if let t = thinkingLimit { config.thinkingLimit = t; flags.append("--thinking-limit") }
        if !flags.isEmpty { source += ", with \(flags.joined(separator: " and ")) from the command line" }
        sampler = config.inferenceSampler(mode, for: task)
    }
}

extension RLConfig {
    /// The sampler for evaluating this run's models in `mode`: the run's settings and the task's length limits.
    public func inferenceSampler(_ mode: ThinkingMode, for task: any ReasoningTask) -> SamplerConfig {
        var s = resolvedSampler(for: task)
        s.mode = mode
        return s
    }
}
