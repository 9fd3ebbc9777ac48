// Settings from a --config file (or flags) outside their bounds are refused by validate() with the key, the value
// and the bound; before the bounds, `groupSize` 100000000 ran on and grew and `noiseScale` 1e308 was accepted.
import XCTest
import PolicyGradient
import Run
import SoftTokens
import Tasks
import TransformerLM

final class SettingsBoundsTests: XCTestCase {
    func validated(_ override: [String: Any]) throws -> RLConfig {
        let config = try ConfigFile.apply(override, over: RLConfig(), source: "test.json")
        try config.validate()
        return config
    }

    func testTheDefaultsAndThePapersSettingsAreInsideTheBounds() throws {
        _ = try validated([:])
        _ = try validated([
            "groupSize": 32, "promptsPerStep": 2, "learningRate": 3e-6,
            "sampler": ["mode": "soft", "noiseScale": 0.33, "softTemperature": 0.5, "maxThinkingSteps": 128]
        ])
        _ = try validated(["loss": ["kind": "clipped", "clipHigh": 0.28, "tisCap": NSNull(), "continuousStepWeight": 0.1]])
        _ = try validated(["sampler": ["mode": "fuzzy", "fuzzyTemperature": 1e-4, "topK": 8, "topP": 0.95, "minP": 0.0]]
        )
    }

    func testHostileSettingsAreRefusedWithTheKeyTheValueAndTheBound() {
        let cases: [(override: [String: Any], mentions: [String])] = [
            (["groupSize": 100_000_000], ["groupSize is 100000000", "between 2 and 1024"]),
            (["groupSize": 1], ["groupSize is 1", "leave-one-out"]),
            (["promptsPerStep": 1_000_000], ["promptsPerStep is 1000000"]),
            (["steps": -1], ["steps is -1"]),
            (["learningRate": 5.0], ["learningRate is 5.0", "(0, 1)"]),
            (["weightDecay": -0.5], ["weightDecay is -0.5"]),
            (["maxGradNorm": 1e300], ["maxGradNorm is 1e+300"]),
            (["maxStaleness": 1_000_000], ["maxStaleness is 1000000"]),
            (["thinkingLimit": 1 << 40], ["thinkingLimit is 1099511627776", "1048576"]),
            (["answerLimit": 0], ["answerLimit is 0"]),
            (["loss": ["clipLow": 1.5]], ["loss.clipLow is 1.5", "[0, 1)"]),
            (["loss": ["clipHigh": -0.1]], ["loss.clipHigh is -0.1"]),
            (["loss": ["tisCap": 0.0]], ["loss.tisCap is 0.0"]),
            (["loss": ["klBeta": -1.0]], ["loss.klBeta is -1.0"]),
            (["loss": ["constantLength": 0.0]], ["loss.constantLength is 0.0"]),
            (["loss": ["continuousStepWeight": 2.0]], ["loss.continuousStepWeight is 2.0", "between 0.0 and 1.0"]),
            (["sampler": ["noiseScale": 1e308]], ["sampler.noiseScale is 1e+308", "[0, 10.0]"]),
            (["sampler": ["noiseScale": -1.0]], ["sampler.noiseScale is -1.0"]),
            (["sampler": ["softTemperature": 0.0]], ["sampler.softTemperature is 0.0"]),
            (["sampler": ["hardTemperature": 1e300]], ["sampler.hardTemperature is 1e+300"]),
            (["sampler": ["multiTokens": 100_000_000]], ["sampler.multiTokens is 100000000", "between 1 and 1024"]),
            (["sampler": ["dirichletConcentration": 1e300]], ["sampler.dirichletConcentration is 1e+300"]),
            (["sampler": ["dirichletMinAlpha": 0.0]], ["sampler.dirichletMinAlpha is 0.0"]),
            (["sampler": ["topK": 0]], ["sampler.topK is 0"]),
            (["sampler": ["topK": 1 << 40]], ["sampler.topK is 1099511627776"]),
            (["sampler": ["topP": 1.5]], ["sampler.topP is 1.5"]),
            (["sampler": ["minP": 1.0]], ["sampler.minP is 1.0"]),
            (["sampler": ["maxThinkingSteps": 100_000_000]], ["sampler.maxThinkingSteps is 100000000"]),
            (["sampler": ["maxAnswerTokens": 0]], ["sampler.maxAnswerTokens is 0"])
        ]
        for c in cases {
            XCTAssertThrowsError(try validated(c.override), "\(c.override) was accepted") { e in
                for m in c.mentions { XCTAssertTrue("\(e)".contains(m), "'\(e)' should mention '\(m)'") }
            }
        }
    }
}

/// `softrl sft` on a problem longer than the model's positions: refused at start with the problem's file and line,
/// its length and the limit (before: the forward pass stopped the process with SIGILL after 1.2 GB).
final class SupervisedInputTests: XCTestCase {
    func testAProblemLongerThanTheModelsPositionsIsRefusedWithItsLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-sft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("long.jsonl").path
        let lines = [
            #"{"prompt": "1+1=", "answer": "2"}"#, "",
            #"{"prompt": "say x", "answer": ""# + String(repeating: "x", count: 100_000) + #""}"#,
            #"{"prompt": "2+2=", "answer": "4"}"#, #"{"prompt": "3+3=", "answer": "6"}"#
        ]
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let task = try JSONLTask(path: path)
        let model = try LlamaModel(
            config: oneLayerConfig(vocabSize: task.vocabulary.count, maxPositions: 512), seed: 1)
        XCTAssertThrowsError(try SupervisedTrainer(model: model, task: task, config: SFTConfig())) { e in
            let m = "\(e)"
            XCTAssertTrue(
                m.contains("\(path) line 3") && m.contains("100007 positions")
                    && m.contains("max_position_embeddings of 512"), m)
        }
        // The same file without the long line trains.
        try lines.enumerated().filter { $0.offset != 2 }.map(\.element).joined(separator: "\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        var config = SFTConfig(); config.batchSize = 2
        let trainer = try SupervisedTrainer(model: model, task: try JSONLTask(path: path), config: config)
        XCTAssertTrue(trainer.step().loss.isFinite)
    }
}
