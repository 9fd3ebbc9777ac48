// `softrl model init|inspect|logits` and `softrl generate`: make, look at and run a checkpoint.
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

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt with the KV cache.",
        discussion: """
            With --tokens: prints the new ids, comma-separated (exactly --max-new-tokens of them). With --prompt: \
            encodes the text with DIR/tokenizer.json, stops at the model's eos_token_id, and prints only the \
            generated text. --chat wraps the prompt in the model's chat template; ChatML (SmolLM2, Qwen2, ...) is \
            the supported template.
            """)
    @Argument(help: "Checkpoint directory.") var dir: String
    @Option(help: "Comma-separated prompt token ids, e.g. 1,2,3.") var tokens: String?
    @Option(help: "Prompt text (needs DIR/tokenizer.json).") var prompt: String?
    @Flag(help: "Format --prompt as one user turn of the model's chat template (ChatML).") var chat = false
    @Option(help: "Number of tokens to generate.") var maxNewTokens: Int = 16
    @Flag(help: "Pick the most likely token at each step (the default unless --temperature is given).") var greedy =
        false
    @Option(help: "Sample from softmax(logits / temperature).") var temperature: Float?
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @OptionGroup var computeOptions: ComputeOptionsGroup

    func run() throws {
        try computeOptions.applyQuietly()
        if greedy && temperature != nil {
            throw CLIError("--greedy and --temperature exclude each other: give one of them")
        }
        if let t = temperature, !(t > 0 && t.isFinite) {
            throw CLIError("--temperature must be a positive number (got \(t)); use --greedy for argmax decoding")
        }
        guard maxNewTokens >= 0 else { throw CLIError("--max-new-tokens must be 0 or more (got \(maxNewTokens))") }
        switch (tokens, prompt) {
        case (nil, nil):
            throw CLIError("give --tokens 1,2,3 (token ids) or --prompt TEXT (needs tokenizer.json in the directory)")
        case (.some, .some): throw CLIError("--tokens and --prompt exclude each other: give one of them")
        default: break
        }
        if chat && prompt == nil { throw CLIError("--chat formats a --prompt: give --prompt TEXT") }
        if let prompt {
            let tok = try loadTokenizer(dir)
            var text = prompt
            if chat {
                do { text = try ChatTemplate.load(directory: dir).render(user: prompt) } catch {
                    throw CLIError("\(error)")
                }
            }
            let ids = tok.encode(text)
            guard !ids.isEmpty else { throw CLIError("--prompt encodes to no tokens: give some text") }
            let model = try loadModel(dir)
            guard tok.vocabSize <= model.config.vocabSize else {
                throw CLIError(
                    "tokenizer has \(tok.vocabSize) ids but the model's vocab_size is \(model.config.vocabSize): they do not belong together"
                )
            }
            guard ids.count + maxNewTokens <= model.config.maxPositionEmbeddings + 1 else {
                throw CLIError(
                    "prompt (\(ids.count) tokens) + --max-new-tokens (\(maxNewTokens)) exceed the model's \(model.config.maxPositionEmbeddings) positions"
                )
            }
            let out = model.generate(
                prompt: ids, maxNewTokens: maxNewTokens, temperature: temperature, seed: seed,
                stop: endOfSequenceIDs(directory: dir))
            print(tok.decode(out, skipSpecialTokens: true))
            return
        }
        let model = try loadModel(dir)
        let ids = try parseTokens(tokens!, vocabSize: model.config.vocabSize)
        guard ids.count + maxNewTokens <= model.config.maxPositionEmbeddings + 1 else {
            throw CLIError(
                "prompt (\(ids.count)) + --max-new-tokens (\(maxNewTokens)) exceed the model's \(model.config.maxPositionEmbeddings) positions: generate fewer tokens"
            )
        }
        let out = model.generate(prompts: [ids], maxNewTokens: maxNewTokens, temperature: temperature, seed: seed)[0]
        print(out.map(String.init).joined(separator: ","))
    }
}
