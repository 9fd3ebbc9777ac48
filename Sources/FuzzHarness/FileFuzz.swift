// The file readers a user (or a downloaded file) feeds: the safetensors reader, the JSONL task loader, a
// checkpoint's config.json and a tokenizer.json. All are driven through their in-memory entry points (the same
// parsing and checks as from a file, without the file system). Audited: what a successful read returns is
// consistent (element counts match shapes; every problem's tokens are in the task's vocabulary; an accepted config
// is inside every bound, survives the writer's round trip and loads only over weights of its exact shapes; every id
// a tokenizer emits is one of its own).
import Foundation
import Tasks
import TextTokenizers
import TransformerLM

public final class FileFuzz {
    public init() {}

    /// Returns whether the file was accepted.
    @discardableResult
    public func safetensors(_ data: Data) throws -> Bool {
        let header = try? SafeTensorsFile.readHeader(contents: data, path: "fuzz.safetensors")
        guard let (tensors, _) = try? SafeTensorsFile.read(contents: data, path: "fuzz.safetensors") else {
            return false
        }
        guard let header else { throw FuzzFinding("read accepted a file whose header readHeader refused") }
        guard Set(header.tensors.map(\.name)) == Set(tensors.keys) else {
            throw FuzzFinding("read and readHeader list different tensors")
        }
        for t in tensors.values {
            guard t.values.count == t.shape.reduce(1, *) else {
                throw FuzzFinding("tensor \(t.name): \(t.values.count) values for shape \(t.shape)")
            }
        }
        return true
    }

    /// Returns whether the file was accepted as a task.
    @discardableResult
    public func jsonl(_ data: Data) throws -> Bool {
        guard let task = try? JSONLTask(path: "fuzz.jsonl", contents: data) else { return false }
        let vocabulary = Int32(task.vocabulary.count)
        for split in [Split.train, .test] {
            for i in 0..<task.count(split) {
                let p = task.problem(split, i)
                for t in p.prompt + p.answerTokens where t < 0 || t >= vocabulary {
                    throw FuzzFinding("problem \(i) holds token \(t) outside its vocabulary of \(vocabulary)")
                }
                _ = task.verdict(answerTokens: p.answerTokens, for: p)
            }
        }
        return true
    }

    /// Weights of `FuzzSeeds.configModel`: a config accepted by `config` is also loaded over them, so the shape
    /// check against a file runs on every mutation that keeps the config valid. Bytes in a global array: the leak
    /// check at the fuzzer's exit cannot follow Data's tagged storage pointer and reported a cached Data as leaked.
    static let configWeightBytes: [UInt8] = {
        let model = try! LlamaModel(config: FuzzSeeds.configModel, seed: 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("softrl-fuzz-config-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try! ModelCheckpoint.save(model, directory: dir)
        return [UInt8](try! Data(contentsOf: dir.appendingPathComponent(ModelCheckpoint.weightsFile)))
    }()
    static var configWeights: Data { Data(configWeightBytes) }

    /// Returns whether the config.json was accepted.
    @discardableResult
    public func config(_ data: Data) throws -> Bool {
        guard let config = try? ModelCheckpoint.parseConfig(data, path: "fuzz/config.json") else { return false }
        guard let count = ParameterLayout.checkedTotalCount(config, limit: LlamaConfig.Limits.parameters),
            config.maxPositionEmbeddings * config.headDim <= LlamaConfig.Limits.ropeTableFloats
        else {
            throw FuzzFinding("accepted a config outside the bounds: \(config)")
        }
        let written = try ModelCheckpoint.configData(config)
        guard let back = try? ModelCheckpoint.parseConfig(written, path: "fuzz/rewritten.json"), back == config else {
            throw FuzzFinding(
                "the config does not survive the writer's round trip: \(config) -> \(String(decoding: written, as: UTF8.self))"
            )
        }
        if let model = try? ModelCheckpoint.model(
            config: config, weights: Self.configWeights, path: "fuzz/model.safetensors")
        {
            guard model.parameterCount == count,
                ParameterLayout(config).entries.map(\.shape)
                    == ParameterLayout(FuzzSeeds.configModel).entries.map(\.shape)
            else {
                throw FuzzFinding("loaded weights of other shapes under config \(config)")
            }
        }
        return true
    }

    /// Returns whether the tokenizer.json was accepted.
    @discardableResult
    public func tokenizer(_ data: Data) throws -> Bool {
        guard let tokenizer = try? HFTokenizer(json: data, source: "fuzz/tokenizer.json") else { return false }
        guard tokenizer.vocabSize <= HFTokenizer.maxTokenIds else {
            throw FuzzFinding("accepted a vocabulary of \(tokenizer.vocabSize) ids")
        }
        // Fixed texts that reach every part (spaces, digits, bytes outside ASCII, an added token's text), and a text
        // the input chooses.
        let texts = [
            "Hello world 123, 4567!", " \t\n  ", "café ünïcödé 日本語 🙂", "<|endoftext|><s></s>ab abab", "",
            String(decoding: data.suffix(48), as: UTF8.self)
        ]
        for text in texts {
            let ids = tokenizer.encode(text)
            if let bad = ids.first(where: { $0 < 0 || Int($0) >= tokenizer.vocabSize }) {
                throw FuzzFinding(
                    "encoding \(String(reflecting: text)) gave id \(bad), outside 0..<\(tokenizer.vocabSize)")
            }
            guard tokenizer.encode(text) == ids else {
                throw FuzzFinding("encoding \(String(reflecting: text)) twice gave different ids")
            }
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
        }
        return true
    }
}
