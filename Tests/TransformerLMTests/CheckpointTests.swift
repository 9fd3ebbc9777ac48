// Checkpoint round trip and every bad-checkpoint case the loader must reject with a message naming the file,
// the tensor and what was expected.
import XCTest
import Foundation
import TensorMath
@testable import TransformerLM

final class CheckpointTests: XCTestCase {
    var dir: URL!
    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-ckpt-\(UUID().uuidString)")
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func saveModel(tied: Bool = false) throws -> LlamaModel {
        let m = try LlamaModel(config: ModelFixtures.microConfig(tied: tied), seed: 4)
        try ModelCheckpoint.save(m, directory: dir)
        return m
    }

    func expectError(_ contains: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelCheckpoint.load(directory: dir), file: file, line: line) { e in
            let msg = "\(e)"
            for c in contains { XCTAssertTrue(msg.contains(c), "'\(msg)' should mention '\(c)'", file: file, line: line) }
        }
    }

    func testRoundTripIsExact() throws {
        for tied in [false, true] {
            let m = try saveModel(tied: tied)
            let back = try ModelCheckpoint.load(directory: dir)
            XCTAssertEqual(back.config, m.config)
            XCTAssertEqual(back.weights.array, m.weights.array)
        }
    }

    func testMissingDirectoryOrFiles() throws {
        expectError(["config.json", "not found"])
        _ = try saveModel()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model.safetensors"))
        expectError(["model.safetensors"])
    }

    func editConfig(_ f: (inout [String: Any]) -> Void) throws {
        let url = dir.appendingPathComponent("config.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        f(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    func testShapeContradictingConfigNamesTensor() throws {
        _ = try saveModel()
        try editConfig { $0["intermediate_size"] = 16 }
        expectError(["model.layers.0.mlp.gate_proj.weight", "[16, 8]", "[12, 8]"])
    }

    func testUnsupportedArchitectureAndOptions() throws {
        _ = try saveModel()
        try editConfig { $0["architectures"] = ["GPT2LMHeadModel"] }
        expectError(["GPT2LMHeadModel", "LlamaForCausalLM"])
        _ = try saveModel()
        try editConfig { $0["attention_bias"] = true }
        expectError(["attention_bias"])
        _ = try saveModel()
        try editConfig { $0["rope_scaling"] = ["rope_type": "llama3", "factor": 8.0] }
        expectError(["rope_scaling"])
        _ = try saveModel()
        try editConfig { $0["num_key_value_heads"] = 3 }
        expectError(["num_key_value_heads"])
        _ = try saveModel()
        try editConfig { $0.removeValue(forKey: "hidden_size") }
        expectError(["hidden_size"])
    }

    func testMissingLMHeadWhenUntied() throws {
        _ = try saveModel(tied: true)
        try editConfig { $0["tie_word_embeddings"] = false }
        expectError(["lm_head.weight", "tie_word_embeddings"])
    }

    func testTruncatedWeightsFile() throws {
        _ = try saveModel()
        let url = dir.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        expectError(["model.safetensors"])
    }
}
