// `softrl model init|inspect|logits`: make, look at and probe a checkpoint.
import ArgumentParser
import Foundation
import TensorMath
import TextTokenizers
import TransformerLM

/// Parses "1,2,3" into token ids, each checked against the vocabulary.
func parseTokens(_ text: String, vocabSize: Int) throws -> [Int32] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces)
    }
    guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
        throw CLIError("--tokens is empty: give comma-separated token ids, e.g. --tokens 1,2,3")
    }
    var ids: [Int32] = []
    for p in parts {
        guard let v = Int(p) else {
            throw CLIError(
                "--tokens '\(text)': '\(p)' is not an integer token id; give comma-separated ids, e.g. --tokens 1,2,3")
        }
        guard v >= 0 && v < vocabSize else {
            throw CLIError(
                "--tokens: token id \(v) is outside the vocabulary (0..<\(vocabSize)); use ids from 0 to \(vocabSize - 1)"
            )
        }
        ids.append(Int32(v))
    }
    return ids
}

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Create, inspect and run model checkpoints (Hugging Face Llama layout).",
        subcommands: [Init.self, Inspect.self, Logits.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a randomly initialised checkpoint.")
        @Option(help: "Model size: tiny (~1M parameters) or small (~10M).") var preset: String = "tiny"
        @Option(help: "Random seed for the weights.") var seed: UInt64 = 0
        @Option(help: "Output directory (created if needed).") var out: String
        @Option(help: "Vocabulary size.") var vocabSize: Int = 64

        func run() throws {
            guard vocabSize > 0 else { throw CLIError("--vocab-size must be positive (got \(vocabSize))") }
            let config: LlamaConfig
            do { config = try LlamaConfig.preset(preset, vocabSize: vocabSize) } catch {
                throw CLIError("--preset: \(error)")
            }
            let model = try LlamaModel(config: config, seed: seed)
            do {
                try ModelCheckpoint.save(
                    model, directory: URL(fileURLWithPath: out), metadata: ["softrl_preset": preset, "seed": "\(seed)"])
            } catch {
                throw CLIError("could not write checkpoint to '\(out)': \(error)")
            }
            print(
                "wrote \(preset) model (\(model.parameterCount) parameters, vocab \(config.vocabSize), seed \(seed)) to \(out)"
            )
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a checkpoint's config, tensors and parameter count.")
        @Argument(help: "Checkpoint directory.") var dir: String

        func run() throws {
            let model = try loadModel(dir)
            let c = model.config
            print(
                "config: vocab_size=\(c.vocabSize) hidden_size=\(c.hiddenSize) intermediate_size=\(c.intermediateSize) "
                    + "num_hidden_layers=\(c.numHiddenLayers) num_attention_heads=\(c.numAttentionHeads) "
                    + "num_key_value_heads=\(c.numKeyValueHeads) head_dim=\(c.headDim) max_position_embeddings=\(c.maxPositionEmbeddings) "
                    + "rms_norm_eps=\(c.rmsNormEps) rope_theta=\(c.ropeTheta) tie_word_embeddings=\(c.tieWordEmbeddings)"
            )
            let width = model.layout.entries.map(\.name.count).max() ?? 0
            for e in model.layout.entries {
                print(
                    "  \(e.name.padding(toLength: width, withPad: " ", startingAt: 0))  [\(e.shape.map(String.init).joined(separator: ", "))]"
                )
            }
            print("parameters: \(model.parameterCount)")
        }
    }

    struct Logits: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the last-position logits for a token list as a JSON array.")
        @Argument(help: "Checkpoint directory.") var dir: String
        @Option(help: "Comma-separated token ids, e.g. 1,2,3.") var tokens: String

        func run() throws {
            let model = try loadModel(dir)
            let ids = try parseTokens(tokens, vocabSize: model.config.vocabSize)
            guard ids.count <= model.config.maxPositionEmbeddings else {
                throw CLIError(
                    "--tokens has \(ids.count) ids; the model takes at most \(model.config.maxPositionEmbeddings) positions"
                )
            }
            let pass = model.forward([ModelInput(tokens: ids)])
            let row = pass.logits(sequence: 0, position: ids.count - 1)
            // Shortest round-tripping decimal for each float, so the values can be compared exactly.
            print("[" + (0..<model.config.vocabSize).map { "\(row[$0])" }.joined(separator: ", ") + "]")
        }
    }
}
