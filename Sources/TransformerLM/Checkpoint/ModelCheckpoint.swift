// Model checkpoints in Hugging Face's layout: a directory with `config.json` (LlamaConfig field names,
// architectures ["LlamaForCausalLM"]) and `model.safetensors` (HF tensor names). Loads fp32/bf16/fp16 weights
// (upcast to fp32), writes fp32. Every rejection names the file, the tensor and what was expected.
import Foundation
import TensorMath

public enum ModelCheckpoint {
    public static let configFile = "config.json"
    public static let weightsFile = "model.safetensors"

    /// Reads and checks `config.json`: Llama architecture, SiLU, no biases, no RoPE scaling.
    public static func loadConfig(directory: URL) throws -> LlamaConfig {
        let url = directory.appendingPathComponent(configFile)
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(kind: .missingFile, file: path, expected: "a Hugging Face config.json", found: "no such file",
                                  hint: "pass a checkpoint directory written by `softrl model init`, `softrl sft` or transformers' save_pretrained")
        }
        let data = try Data(contentsOf: url)
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError.badConfig(file: path, field: "(whole file)", expected: "a JSON object", found: "unparseable JSON")
        }
        if let arch = json["architectures"] as? [String], !arch.contains("LlamaForCausalLM") {
            throw CheckpointError.unsupportedArchitecture(file: path, found: arch.joined(separator: ","))
        }
        if let type = json["model_type"] as? String, type != "llama" {
            throw CheckpointError.unsupportedArchitecture(file: path, found: "model_type \"\(type)\"")
        }
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw CheckpointError.badConfig(file: path, field: "hidden_act", expected: "silu", found: act, hint: "only SwiGLU Llama MLPs are implemented")
        }
        for field in ["attention_bias", "mlp_bias"] where (json[field] as? Bool) == true {
            throw CheckpointError.badConfig(file: path, field: field, expected: "false", found: "true", hint: "biased projections are not implemented")
        }
        if let scaling = json["rope_scaling"], !(scaling is NSNull) {
            throw CheckpointError.badConfig(file: path, field: "rope_scaling", expected: "null", found: "\(scaling)", hint: "RoPE scaling (e.g. Llama 3.1 long context) is not implemented")
        }
        var ropeTheta = json["rope_theta"] as? Double
        if let params = json["rope_parameters"] as? [String: Any] {   // transformers 5 nests it here
            if let type = params["rope_type"] as? String, type != "default" {
                throw CheckpointError.badConfig(file: path, field: "rope_parameters.rope_type", expected: "default", found: type,
                                                hint: "RoPE scaling is not implemented")
            }
            ropeTheta = ropeTheta ?? (params["rope_theta"] as? Double)
        }
        var config: LlamaConfig
        do {
            config = try JSONDecoder().decode(LlamaConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw CheckpointError.badConfig(file: path, field: key.stringValue, expected: "present", found: "missing")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw CheckpointError.badConfig(file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."), expected: "a number of the right type", found: ctx.debugDescription)
        }
        if let t = ropeTheta { config.ropeTheta = t }
        // transformers writes head_dim even when it is the default; keep it only when it says something.
        if config.headDimOverride == config.hiddenSize / config.numAttentionHeads { config.headDimOverride = nil }
        do { try config.validate() } catch {
            throw CheckpointError.badConfig(file: path, field: "(shape fields)", expected: "a consistent Llama shape", found: "\(error)")
        }
        return config
    }

    /// Loads a model. Tensors may be fp32, bf16 or fp16; shapes must match the config exactly.
    public static func load(directory: URL) throws -> LlamaModel {
        let config = try loadConfig(directory: directory)
        let url = directory.appendingPathComponent(weightsFile)
        let (tensors, _) = try SafeTensorsFile.read(url)
        let layout = ParameterLayout(config)
        let weights = FloatBuffer(count: layout.totalCount)
        for e in layout.entries {
            guard let t = tensors[e.name] else {
                if e.name == "lm_head.weight" { throw CheckpointError.missingTensor(file: url.path, tensor: e.name, hint: "config says tie_word_embeddings=false but the file has no lm_head.weight") }
                throw CheckpointError.missingTensor(file: url.path, tensor: e.name)
            }
            guard t.shape == e.shape else {
                throw CheckpointError.shapeMismatch(file: url.path, tensor: e.name, expected: e.shape, found: t.shape)
            }
            t.values.withUnsafeBufferPointer { (weights.pointer + e.offset).update(from: $0.baseAddress!, count: e.count) }
        }
        return try LlamaModel(config: config, weights: weights)
    }

    /// Writes config.json and model.safetensors (fp32) into `directory` (created if needed); each file is
    /// written to a temporary name and renamed, so a crash never leaves a half-written file under the real name.
    public static func save(_ model: LlamaModel, directory: URL, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let c = model.config
        var json: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "attention_bias": false, "mlp_bias": false, "torch_dtype": "float32",
            "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize,
            "num_hidden_layers": c.numHiddenLayers, "num_attention_heads": c.numAttentionHeads,
            "num_key_value_heads": c.numKeyValueHeads, "max_position_embeddings": c.maxPositionEmbeddings,
            "rms_norm_eps": c.rmsNormEps, "rope_theta": c.ropeTheta, "rope_scaling": NSNull(),
            "tie_word_embeddings": c.tieWordEmbeddings,
            "initializer_range": 0.02, "use_cache": true,
        ]
        if let h = c.headDimOverride { json["head_dim"] = h }
        if let b = c.bosTokenId { json["bos_token_id"] = b }
        if let e = c.eosTokenId { json["eos_token_id"] = e }
        if let p = c.padTokenId { json["pad_token_id"] = p }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: directory.appendingPathComponent(configFile), options: .atomic)
        let tensors = model.layout.entries.map { e in
            (name: e.name, shape: e.shape, values: Array(UnsafeBufferPointer(start: model.weights.pointer + e.offset, count: e.count)))
        }
        try SafeTensorsFile.write(directory.appendingPathComponent(weightsFile), tensors: tensors,
                                  metadata: metadata.merging(["format": "pt"]) { a, _ in a })
    }
}
