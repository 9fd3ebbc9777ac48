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
            for c in contains {
                XCTAssertTrue(msg.contains(c), "'\(msg)' should mention '\(c)'", file: file, line: line)
            }
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

    /// A config.json edited into each of these shapes is refused by name, with the value and the bound, before
    /// any buffer is sized from it. Before the bounds, each trapped (division by zero, overflow), aborted on a
    /// multi-terabyte allocation or built a layout for ever.
    func testAbsurdConfigFieldsAreRefusedByNameWithTheirBound() throws {
        let cases: [(field: String, value: Any, mentions: [String])] = [
            ("vocab_size", 1 << 62, ["vocab_size is 4611686018427387904", "between 1 and 16777216"]),
            ("num_attention_heads", 0, ["num_attention_heads is 0", "between 1 and 1024"]),
            ("max_position_embeddings", 1 << 40, ["max_position_embeddings is 1099511627776", "between 1 and 1048576"]),
            ("intermediate_size", 1 << 31, ["intermediate_size is 2147483648", "between 1 and 262144"]),
            ("num_hidden_layers", 1_000_000_000_000, ["num_hidden_layers is 1000000000000", "between 1 and 1024"]),
            ("hidden_size", -8, ["hidden_size is -8"]),
            ("head_dim", 3, ["head_dim is 3", "even"]),
            ("rms_norm_eps", 0.0, ["rms_norm_eps is 0.0"]),
            ("vocab_size", 1e30, ["vocab_size: an integer", "found 1e+30"]),
            ("num_hidden_layers", 2.5, ["num_hidden_layers: an integer", "found 2.5"])
        ]
        for c in cases {
            _ = try saveModel()
            try editConfig { $0[c.field] = c.value }
            expectError(["config.json", "bad config"] + c.mentions)
        }
    }

    /// Every field within its bound but the product too large: the parameter count is the bound that says so.
    func testAConfigOverTheParameterBoundIsRefused() throws {
        _ = try saveModel()
        try editConfig {
            $0["hidden_size"] = 16384; $0["intermediate_size"] = 65536; $0["num_hidden_layers"] = 1024
            $0["num_attention_heads"] = 128; $0["num_key_value_heads"] = 8
        }
        expectError(["the parameter count is", "at most 2147483648"])
    }

    /// A ~1.1B-parameter config (TinyLlama's shape, inside every bound) over the micro model's file: the first
    /// tensor whose shape disagrees is named, and nothing of the config's size was allocated (before, 4.4 GB of
    /// zeroed weights came first). The peak resident size of this process is the witness.
    func testALargeConfigOverASmallFileIsRefusedBeforeAllocating() throws {
        _ = try saveModel()
        try editConfig {
            $0["vocab_size"] = 32000; $0["hidden_size"] = 2048; $0["intermediate_size"] = 5632
            $0["num_hidden_layers"] = 22; $0["num_attention_heads"] = 32; $0["num_key_value_heads"] = 4
            $0["max_position_embeddings"] = 2048
        }
        let before = peakResidentBytes()
        expectError(["model.embed_tokens.weight", "[32000, 2048]", "[11, 8]"])
        let grown = peakResidentBytes() - before
        XCTAssertLessThan(
            grown, 1 << 30, "loading a config 1.1B parameters large grew the peak resident size by \(grown) bytes")
    }

    func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return usage.ru_maxrss * 1024 // Linux reports kilobytes
    }

    /// A checkpoint with a NaN or an infinity in one tensor is refused at load with that tensor named (before, a
    /// learner started from it, rejected every group and never trained).
    func testNonFiniteWeightsAreRefusedWithTheTensorNamed() throws {
        for bad in [Float.nan, -Float.infinity] {
            let m = try saveModel()
            let url = dir.appendingPathComponent("model.safetensors")
            let target = "model.layers.1.mlp.up_proj.weight"
            let tensors = m.layout.entries.map { e -> (name: String, shape: [Int], values: [Float]) in
                var values = Array(UnsafeBufferPointer(start: m.weights.pointer + e.offset, count: e.count))
                if e.name == target { values[5] = bad }
                return (e.name, e.shape, values)
            }
            try SafeTensorsFile.write(url, tensors: tensors)
            expectError(["model.safetensors", "non-finite weights", target, "\(bad) at element 5", "1 of 96 non-finite"]
            )
        }
    }

    /// A config that uses fewer tensors than the file holds (tied over a file with its own lm_head, one layer of two)
    /// is refused naming the first unused tensor: loading would drop trained weights without a word.
    func testAConfigThatLeavesTensorsOfTheFileUnusedIsRefused() throws {
        _ = try saveModel(tied: false)
        try editConfig { $0["tie_word_embeddings"] = true }
        expectError(["tensor the config does not use", "'lm_head.weight'"])
        _ = try saveModel(tied: false)
        try editConfig { $0["num_hidden_layers"] = 1 }
        expectError(["tensor the config does not use", "'model.layers.1."])
    }
}
