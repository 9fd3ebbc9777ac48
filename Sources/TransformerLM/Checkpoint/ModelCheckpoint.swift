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
            throw CheckpointError(
                kind: .missingFile, file: path, expected: "a Hugging Face config.json", found: "no such file",
                hint:
                    "pass a checkpoint directory written by `softrl model init`, `softrl sft` or transformers' save_pretrained"
            )
        }
        return try parseConfig(try Data(contentsOf: url), path: path)
    }

    /// `loadConfig` of a config.json already in memory (`path` names it in errors; the fuzz target's entry point).
    public static func parseConfig(_ data: Data, path: String) throws -> LlamaConfig {
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError.badConfig(
                file: path, field: "(whole file)", expected: "a JSON object", found: "unparseable JSON")
        }
        if let arch = json["architectures"] as? [String], !arch.contains("LlamaForCausalLM") {
            throw CheckpointError.unsupportedArchitecture(file: path, found: arch.joined(separator: ","))
        }
        if let type = json["model_type"] as? String, type != "llama" {
            throw CheckpointError.unsupportedArchitecture(file: path, found: "model_type \"\(type)\"")
        }
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw CheckpointError.badConfig(
                file: path, field: "hidden_act", expected: "silu", found: act,
                hint: "only SwiGLU Llama MLPs are implemented")
        }
        for field in ["attention_bias", "mlp_bias"] where (json[field] as? Bool) == true {
            throw CheckpointError.badConfig(
                file: path, field: field, expected: "false", found: "true",
                hint: "biased projections are not implemented")
        }
        if let scaling = json["rope_scaling"], !(scaling is NSNull) {
            throw CheckpointError.badConfig(
                file: path, field: "rope_scaling", expected: "null", found: "\(scaling)",
                hint: "RoPE scaling (e.g. Llama 3.1 long context) is not implemented")
        }
        // Numbers come from JSONDecoder, not JSONSerialization: on Linux the latter returns some literals
        // (1.0000777777777779e+39) as NSDecimalNumber, whose doubleValue is not the nearest double.
        var nestedRopeTheta: Double?
        if let params = json["rope_parameters"] as? [String: Any] { // transformers 5 nests it here
            if let type = params["rope_type"] as? String, type != "default" {
                throw CheckpointError.badConfig(
                    file: path, field: "rope_parameters.rope_type", expected: "default", found: type,
                    hint: "RoPE scaling is not implemented")
            }
            if json["rope_theta"] == nil {
                nestedRopeTheta = (try? JSONDecoder().decode(NestedRope.self, from: data))?.ropeParameters.ropeTheta
            }
        }
        // Shape fields must be integers that fit: the decoder's own message for 1e30 names no field.
        for field in [
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "max_position_embeddings", "head_dim"
        ] {
            guard let value = json[field], !(value is NSNull) else { continue }
            let type = (value as? NSNumber).map { String(cString: $0.objCType) }
            guard let type, !["c", "B", "d", "f"].contains(type),
                type != "Q" || (value as! NSNumber).uint64Value <= UInt64(Int.max)
            else {
                throw CheckpointError.badConfig(file: path, field: field, expected: "an integer", found: "\(value)")
            }
        }
        var config: LlamaConfig
        do {
            config = try JSONDecoder().decode(LlamaConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw CheckpointError.badConfig(file: path, field: key.stringValue, expected: "present", found: "missing")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw CheckpointError.badConfig(
                file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."),
                expected: "a number of the right type", found: ctx.debugDescription)
        } catch let DecodingError.dataCorrupted(ctx) {
            throw CheckpointError.badConfig(
                file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."),
                expected: "an integer that fits in 64 bits", found: ctx.debugDescription)
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw CheckpointError.badConfig(
                file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."), expected: "a number",
                found: "null")
        }
        if let t = nestedRopeTheta { config.ropeTheta = t }
        // transformers writes head_dim even when it is the default; keep it only when it says something.
        if config.numAttentionHeads > 0, config.headDimOverride == config.hiddenSize / config.numAttentionHeads {
            config.headDimOverride = nil
        }
        do { try config.validate() } catch {
            throw CheckpointError(
                kind: .badConfig, file: path, expected: "a Llama shape within SoftRL's bounds", found: "\(error)",
                hint:
                    "compare config.json with the model it came from (transformers' save_pretrained writes a valid one)"
            )
        }
        return config
    }

    /// Loads a model. Tensors may be fp32, bf16 or fp16; shapes must match the config exactly, and are checked
    /// against the file's header before the weights are allocated (a config far larger than its file is an error
    /// naming the first tensor that disagrees, not a multi-gigabyte allocation). Non-finite weights are refused
    /// with the tensor named: a model with NaN or infinite weights generates garbage and never trains.
    public static func load(directory: URL) throws -> LlamaModel {
        let config = try loadConfig(directory: directory)
        let url = directory.appendingPathComponent(weightsFile)
        return try model(config: config, weights: try SafeTensorsFile.load(url), path: url.path)
    }

    /// `load` of a model.safetensors already in memory, for a config already checked (`path` names the file in errors).
    public static func model(config: LlamaConfig, weights contents: Data, path: String) throws -> LlamaModel {
        let url = URL(fileURLWithPath: path)
        let (infos, _) = try SafeTensorsFile.readHeader(contents: contents, path: url.path)
        let shapes = Dictionary(infos.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        let layout = ParameterLayout(config)
        for e in layout.entries {
            guard let shape = shapes[e.name] else {
                if e.name == "lm_head.weight" {
                    throw CheckpointError.missingTensor(
                        file: url.path, tensor: e.name,
                        hint: "config says tie_word_embeddings=false but the file has no lm_head.weight")
                }
                throw CheckpointError.missingTensor(
                    file: url.path, tensor: e.name,
                    hint:
                        "config.json describes \(layout.entries.count) tensors (\(config.numHiddenLayers) layers); check that it belongs to this model.safetensors"
                )
            }
            guard shape == e.shape else {
                throw CheckpointError.shapeMismatch(file: url.path, tensor: e.name, expected: e.shape, found: shape)
            }
        }
        // A tensor the config does not use means they do not belong together (a config of fewer layers, or tied over
        // a file with its own lm_head): loading would silently drop trained weights. Old exports' rotary buffers aside.
        let used = Set(layout.entries.map(\.name))
        if let extra = infos.map(\.name).sorted().first(where: {
            !used.contains($0) && !$0.hasSuffix("rotary_emb.inv_freq")
        }) {
            throw CheckpointError(
                kind: .unusedTensor, file: url.path, tensor: extra,
                expected: "only the \(layout.entries.count) tensors config.json describes",
                found: "'\(extra)' besides them (\(infos.count) tensors in the file)",
                hint:
                    "config.json describes a smaller model than this file (fewer layers, or tie_word_embeddings true over a file with its own lm_head): use the config the weights were saved with"
            )
        }
        let (tensors, _) = try SafeTensorsFile.read(contents: contents, path: url.path)
        let weights = FloatBuffer(count: layout.totalCount)
        for e in layout.entries {
            let t = tensors[e.name]! // present with this shape: checked above
            if let bad = t.values.firstIndex(where: { !$0.isFinite }) {
                throw CheckpointError(
                    kind: .nonFiniteWeights, file: url.path, tensor: e.name, expected: "finite weights",
                    found:
                        "\(t.values[bad]) at element \(bad) (\(t.values.lazy.filter { !$0.isFinite }.count) of \(t.values.count) non-finite)",
                    hint:
                        "the run that wrote this checkpoint diverged or the file is damaged: start from an earlier checkpoint"
                )
            }
            t.values.withUnsafeBufferPointer {
                (weights.pointer + e.offset).update(from: $0.baseAddress!, count: e.count)
            }
        }
        return try LlamaModel(config: config, weights: weights)
    }

    /// Writes config.json and model.safetensors (fp32) into `directory` (created if needed); each file is
    /// written to a temporary name and renamed, so a crash never leaves a half-written file under the real name.
    public static func save(_ model: LlamaModel, directory: URL, metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try configData(model.config).write(to: directory.appendingPathComponent(configFile), options: .atomic)
        let tensors = model.layout.entries.map { e in
            (
                name: e.name, shape: e.shape,
                values: Array(UnsafeBufferPointer(start: model.weights.pointer + e.offset, count: e.count))
            )
        }
        try SafeTensorsFile.write(
            directory.appendingPathComponent(weightsFile), tensors: tensors,
            metadata: metadata.merging(["format": "pt"]) { a, _ in a })
    }

    /// transformers 5's `{"rope_parameters": {"rope_theta": ...}}`.
    private struct NestedRope: Decodable {
        struct Parameters: Decodable {
            let ropeTheta: Double?
            enum CodingKeys: String, CodingKey { case ropeTheta = "rope_theta" }
        }
        let ropeParameters: Parameters
        enum CodingKeys: String, CodingKey { case ropeParameters = "rope_parameters" }
    }

    /// The config.json `save` writes for `c` (transformers' field names, sorted keys).
    public static func configData(_ c: LlamaConfig) throws -> Data {
        var json: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "attention_bias": false, "mlp_bias": false, "torch_dtype": "float32",
            "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize,
            "num_hidden_layers": c.numHiddenLayers, "num_attention_heads": c.numAttentionHeads,
            "num_key_value_heads": c.numKeyValueHeads, "max_position_embeddings": c.maxPositionEmbeddings,
            "rms_norm_eps": c.rmsNormEps, "rope_theta": c.ropeTheta, "rope_scaling": NSNull(),
            "tie_word_embeddings": c.tieWordEmbeddings,
            "initializer_range": 0.02, "use_cache": true
        ]
        if let h = c.headDimOverride { json["head_dim"] = h }
        if let b = c.bosTokenId { json["bos_token_id"] = b }
        if let e = c.eosTokenId { json["eos_token_id"] = e }
        if let p = c.padTokenId { json["pad_token_id"] = p }
        return try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
    }
}
