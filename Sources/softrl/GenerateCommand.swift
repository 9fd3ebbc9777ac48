// `softrl generate`: continue a prompt (token ids or text through the checkpoint's tokenizer) with the KV cache.
import ArgumentParser
import Foundation
import TensorMath
import TextTokenizers
import TransformerLM

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
