// The run's settings as one value (RunOverrides): a new run resolves flags and config files the same way, gamma
// follows its stated rule, a resume applies only what it may and names every other setting it was given, a
// config handed over by `softrl local` is checked against the checkpoint, and `softrl eval` finds the run's sampler.
import XCTest
import Foundation
import PolicyGradient
import Run
import SoftTokens
import Tasks

final class RunSettingsTests: XCTestCase {
    /// One value of the right type for every setting, written out here independently of RunOverrides.
    static let sample: [String: Any] = [
        "task": "reach", "taskSeed": 3, "mnnsDigits": 5, "reachNodes": 9, "arithDigits": 3, "tokenizer": "tok.json",
        "promptTemplate": "Q: {question}", "endOfThinking": "Answer:", "verifier": "exact", "wordLevel": 2,
        "wordCount": 100,
        "config": "rl.json", "mode": "fuzzy", "steps": 7, "groupSize": 8, "prompts": 3, "lr": 3e-5, "advantage": "grpo",
        "loss": "clipped", "klBeta": 0.05, "dynamicSampling": true, "maxStaleness": 2, "noiseScale": 0.5, "seed": 11,
        "microBatch": "4"
    ]

    func overrides(_ fields: [String: Any]) throws -> RunOverrides { try RunOverrides(fields: fields) }

    func testTheSampleCoversEverySetting() {
        XCTAssertEqual(
            Set(Self.sample.keys), Set(RunOverrides.keys), "a setting was added or removed: give it a sample value here"
        )
    }

    func testFlagNamesAreKebabCase() {
        XCTAssertEqual(RunOverrides.flag("klBeta"), "--kl-beta")
        XCTAssertEqual(RunOverrides.flag("lr"), "--lr")
        XCTAssertEqual(RunOverrides.flag("endOfThinking"), "--end-of-thinking")
        XCTAssertEqual(RunOverrides.flag("dynamicSampling"), "--dynamic-sampling")
    }

    func testGivenListsExactlyTheSetFields() throws {
        XCTAssertEqual(RunOverrides().given, [])
        XCTAssertEqual(try overrides(["lr": 1e-5, "tokenizer": "x"]).given, ["tokenizer", "lr"])
        XCTAssertEqual(try overrides(Self.sample).given, RunOverrides.keys)
    }

    func testUnknownOrMistypedSettingIsAnErrorNamingIt() {
        XCTAssertThrowsError(try overrides(["groupSise": 4])) { XCTAssertTrue("\($0)".contains("groupSise"), "\($0)") }
        XCTAssertThrowsError(try overrides(["steps": "many"])) { XCTAssertTrue("\($0)".contains("steps"), "\($0)") }
    }

    /// A config file may set the settings whose default is nil (absent from the encoded defaults), at any depth,
    /// and a misspelt key is named with its path. The optional fields are listed here by hand, from RLConfig,
    /// SamplerConfig, LossConfig and TaskOptions, independently of how ConfigFile finds them.
    func testConfigFileAcceptsUnsetOptionalsAndNamesMisspeltKeys() throws {
        let file: [String: Any] = [
            "thinkingLimit": 12, "answerLimit": 5, "microBatch": "8",
            "sampler": ["topK": 7, "topP": 0.9, "minP": 0.05], "loss": ["tisCap": 3.0],
            "taskOptions": ["tokenizer": "tok.json"]
        ]
        let c = try ConfigFile.apply(file, over: RLConfig(), source: "test.json")
        XCTAssertEqual(c.thinkingLimit, 12); XCTAssertEqual(c.answerLimit, 5)
        XCTAssertEqual(c.microBatch, MicroBatchSize(8, .rollouts))
        XCTAssertEqual(c.sampler.topK, 7); XCTAssertEqual(c.sampler.topP, 0.9); XCTAssertEqual(c.sampler.minP, 0.05)
        XCTAssertEqual(c.loss.tisCap, 3.0); XCTAssertEqual(c.taskOptions.tokenizer, "tok.json")
        XCTAssertNil(try ConfigFile.apply(["loss": ["tisCap": NSNull()]], over: RLConfig(), source: "t").loss.tisCap)
        for (bad, path) in [
            (["sampler": ["topk": 7]] as [String: Any], "sampler.topk"), (["thinkingLimits": 12], "thinkingLimits"),
            (["taskOptions": ["tokeniser": "t"]], "taskOptions.tokeniser")
        ] {
            XCTAssertThrowsError(try ConfigFile.apply(bad, over: RLConfig(), source: "t")) {
                XCTAssertTrue("\($0)".contains("unknown key '\(path)'"), "\($0)")
            }
        }
    }

    /// Flags and a config file that say the same thing give the same run.
    func testFieldsApplyAsTheEquivalentConfigFileDoes() throws {
        let viaFields = try overrides([
            "mode": "fuzzy", "steps": 7, "groupSize": 8, "prompts": 3, "lr": 3e-5, "advantage": "grpo",
            "loss": "clipped", "klBeta": 0.05, "dynamicSampling": true, "maxStaleness": 2,
            "noiseScale": 0.5, "seed": 11, "task": "reach", "reachNodes": 9, "taskSeed": 3
        ]).resolve()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-run-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let json = """
            {"sampler": {"mode": "fuzzy", "noiseScale": 0.5}, "steps": 7, "groupSize": 8, "promptsPerStep": 3, "learningRate": 3e-5,
             "advantage": "grpo", "loss": {"kind": "clipped", "klBeta": 0.05}, "dynamicSampling": true, "maxStaleness": 2,
             "seed": 11, "task": "reach", "taskOptions": {"reachNodes": 9, "seed": 3}}
            """
        try json.write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(viaFields, try overrides(["config": file.path]).resolve())
        // Fields override the file.
        XCTAssertEqual(try overrides(["config": file.path, "steps": 9]).resolve().steps, 9)
    }

    func testGammaFollowsTheRuleUnlessSet() throws {
        let scratch = try RunOverrides().newRun()
        XCTAssertEqual(scratch.config.sampler.noiseScale, 1.0)
        XCTAssertEqual(scratch.config.sampler.noiseScale, NoiseScale.fromScratch)
        XCTAssertTrue(
            scratch.messages.contains { $0.hasPrefix("noise gamma 1.0: for a model trained from scratch") },
            "\(scratch.messages)")
        // A task read with a tokenizer runs on a pretrained model: the paper's 0.33. (Resolving needs no tokenizer file.)
        let pretrained = try overrides(["task": "words", "tokenizer": "models/x"]).newRun()
        XCTAssertEqual(pretrained.config.sampler.noiseScale, 0.33)
        XCTAssertTrue(
            pretrained.messages.contains { $0.hasPrefix("noise gamma 0.33: the paper's, for a pretrained model") },
            "\(pretrained.messages)")
        let flag = try overrides(["tokenizer": "models/x", "noiseScale": 0.7]).newRun()
        XCTAssertEqual(flag.config.sampler.noiseScale, 0.7)
        XCTAssertTrue(flag.messages.contains("noise gamma 0.7: set by --noise-scale"), "\(flag.messages)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "softrl-gamma-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try #"{"sampler": {"noiseScale": 0.2}}"#.write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try overrides(["tokenizer": "models/x", "config": file.path]).resolve().sampler.noiseScale, 0.2)
        XCTAssertEqual(try overrides(["config": file.path]).resolve().sampler.noiseScale, 0.2)
    }

    /// The learning rate follows the same pretrained-or-not rule as gamma, unless --lr or the config file sets it.
    func testLearningRateFollowsTheRuleUnlessSet() throws {
        let scratch = try RunOverrides().newRun()
        XCTAssertEqual(scratch.config.learningRate, 1e-4)
        XCTAssertTrue(
            scratch.messages.contains { $0.hasPrefix("learning rate 0.0001: for a model trained from scratch") },
            "\(scratch.messages)")
        let pretrained = try overrides(["task": "words", "tokenizer": "models/x"]).newRun()
        XCTAssertEqual(pretrained.config.learningRate, 5e-6)
        XCTAssertTrue(
            pretrained.messages.contains { $0.hasPrefix("learning rate 5e-06: for a pretrained model") },
            "\(pretrained.messages)")
        let flag = try overrides(["tokenizer": "models/x", "lr": 2e-5]).newRun()
        XCTAssertEqual(flag.config.learningRate, 2e-5)
        XCTAssertTrue(flag.messages.contains("learning rate 2e-05: set by --lr"), "\(flag.messages)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-lr-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try #"{"learningRate": 3e-6}"#.write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try overrides(["tokenizer": "models/x", "config": file.path]).resolve().learningRate, 3e-6)
        XCTAssertEqual(try overrides(["config": file.path]).resolve().learningRate, 3e-6)
    }

    func testResumeAppliesWhatItMayAndNamesEveryOtherSetting() throws {
        var saved = RLConfig(); saved.steps = 6; saved.learningRate = 1e-4; saved.maxStaleness = 0
        for (key, value) in Self.sample {
            let plan = try overrides([key: value]).resume(saved)
            if RunOverrides.changeableOnResume.contains(key) {
                XCTAssertEqual(plan.ignored, [], key)
                XCTAssertEqual(plan.changed.count, 1, key)
            } else {
                XCTAssertEqual(plan.ignored, [RunOverrides.flag(key)], "\(key) must be named when a resume ignores it")
                XCTAssertEqual(plan.config, saved, key)
            }
        }
        // The task flags a resume used to drop without a word.
        let plan = try overrides(Self.sample.filter { !RunOverrides.changeableOnResume.contains($0.key) }).resume(saved)
        let line = try XCTUnwrap(plan.messages.first { $0.hasPrefix("resume: IGNORED") })
        for flag in [
            "--tokenizer", "--prompt-template", "--end-of-thinking", "--verifier", "--word-level", "--word-count",
            "--task", "--task-seed", "--group-size", "--config", "--noise-scale", "--dynamic-sampling"
        ] {
            XCTAssertTrue(line.contains(flag + " ") || line.contains(flag + ":"), "\(flag) missing from: \(line)")
        }
        let changed = try overrides(["steps": 8, "lr": 5e-5, "maxStaleness": 0]).resume(saved)
        XCTAssertEqual(
            changed.messages, ["resume: changed steps 6 -> 8, lr 0.0001 -> 5e-05 (safe to change between sessions)"])
        XCTAssertEqual(changed.config.steps, 8); XCTAssertEqual(changed.config.learningRate, 5e-5)
    }

    func testHandedOverConfigMustBeTheRunsOwn() throws {
        var saved = RLConfig(); saved.steps = 6
        var next = saved; next.steps = 9; next.learningRate = 5e-5
        XCTAssertEqual(try RunOverrides().plan(saved: saved, handedOver: next).config, next)
        var other = next; other.groupSize = 4
        XCTAssertThrowsError(try RunOverrides().plan(saved: saved, handedOver: other)) {
            XCTAssertTrue("\($0)".contains("not this run's"), "\($0)")
        }
        XCTAssertThrowsError(try overrides(["steps": 3]).plan(saved: nil, handedOver: next)) {
            XCTAssertTrue("\($0)".contains("--steps"), "\($0)")
        }
        XCTAssertEqual(try RunOverrides().plan(saved: nil, handedOver: other).config, other)
    }

    func testConfigFileRoundTripsTheWholeConfig() throws {
        var cfg = try overrides(["mode": "fuzzy", "lr": 3e-5, "noiseScale": 0.45, "tokenizer": "t", "wordLevel": 2])
            .resolve()
        cfg.sampler.topK = 5; cfg.thinkingLimit = 12
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-cfg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = try RunConfigFile.write(cfg, into: dir)
        XCTAssertEqual(try RunConfigFile.read(url.path), cfg)
    }

    /// `softrl eval` on a checkpoint of a run uses that run's sampler; on a bare checkpoint, a new run's for the task.
    func testEvaluationSamplerComesFromTheRunsConfig() throws {
        let task = try TaskCatalog.make(name: "mnns")
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-eval-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: run) }
        let checkpoint = run.appendingPathComponent("checkpoint")
        try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
        let bare = try EvaluationSampler(
            checkpoint: checkpoint, task: task, taskSettings: RunOverrides(), mode: .soft, noiseScale: nil,
            thinkingLimit: nil)
        XCTAssertEqual(bare.sampler.noiseScale, NoiseScale.fromScratch)
        XCTAssertEqual(bare.sampler.maxThinkingSteps, task.suggestedThinkingLimit)
        XCTAssertTrue(bare.source.contains("a new run's settings"), bare.source)

        var cfg = RLConfig(); cfg.sampler.noiseScale = 0.5; cfg.sampler.softTemperature = 0.7; cfg.thinkingLimit = 9
        try RunConfigFile.write(cfg, into: run)
        let own = try EvaluationSampler(
            checkpoint: checkpoint, task: task, taskSettings: RunOverrides(), mode: .soft, noiseScale: nil,
            thinkingLimit: nil)
        XCTAssertEqual(own.sampler.mode, .soft)
        XCTAssertEqual(own.sampler.noiseScale, 0.5); XCTAssertEqual(own.sampler.softTemperature, 0.7);
        XCTAssertEqual(own.sampler.maxThinkingSteps, 9)
        XCTAssertTrue(own.source.contains(RunConfigFile.name), own.source)
        let flagged = try EvaluationSampler(
            checkpoint: checkpoint, task: task, taskSettings: RunOverrides(), mode: .hard, noiseScale: 0.2,
            thinkingLimit: 4)
        XCTAssertEqual(flagged.sampler.mode, .hard)
        XCTAssertEqual(flagged.sampler.noiseScale, 0.2); XCTAssertEqual(flagged.sampler.maxThinkingSteps, 4)
    }
}
