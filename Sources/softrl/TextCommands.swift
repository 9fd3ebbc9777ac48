// `softrl tokenize` and the text side of `softrl generate`: a model directory's tokenizer.json (Hugging Face
// format), its chat template, and its end-of-sequence ids.
import ArgumentParser
import Foundation
import Tasks
import TextTokenizers

/// Loads DIR/tokenizer.json (or the file itself), turning failures into one-line CLIErrors.
func loadTokenizer(_ path: String) throws -> HFTokenizer {
    do { return try HFTokenizer(path: path) } catch let e as TokenizerError { throw CLIError(e.description) }
}

/// eos_token_id from generation_config.json, else config.json (an integer or a list).
func endOfSequenceIDs(directory: String) -> Set<Int32> {
    for name in ["generation_config.json", "config.json"] {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path),
            let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let v = obj["eos_token_id"]
        else { continue }
        // An id that is not one (negative, past 2^24, a fraction) stops nothing rather than wrapping to another token.
        return Set(((v as? [Any]) ?? [v]).compactMap(HFTokenizer.tokenId))
    }
    return []
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode text with a model directory's tokenizer.json; prints the ids as a JSON array.")
    @Argument(help: "Model directory holding tokenizer.json, or a tokenizer.json file.") var dir: String
    @Option(help: "Text to encode.") var text: String
    @Flag(help: "Do not add the tokenizer's special tokens (e.g. a BOS from its post-processor).") var noSpecialTokens =
        false
    @Flag(help: "Decode the ids back and print the text on a second line.") var decode = false

    func run() throws {
        let tok = try loadTokenizer(dir)
        let ids = tok.encode(text, addSpecialTokens: !noSpecialTokens)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
        if decode { print(tok.decode(ids, skipSpecialTokens: false)) }
    }
}

/// After saving a checkpoint trained on a text task: copy the tokenizer files that sit beside the task's tokenizer
/// (tokenizer.json, tokenizer_config.json, chat_template.jinja, generation_config.json, special_tokens_map.json)
/// into it, so the output directory works with `generate --prompt` and as a later --tokenizer on its own.
func copyTokenizerFiles(for task: any ReasoningTask, into out: String) {
    guard let text = task as? TextTask else { return }
    let fm = FileManager.default
    let source = URL(fileURLWithPath: text.tokenizer.source).deletingLastPathComponent()
    for name in [
        "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json",
        "special_tokens_map.json"
    ] {
        let from = source.appendingPathComponent(name), to = URL(fileURLWithPath: out).appendingPathComponent(name)
        guard fm.fileExists(atPath: from.path), !fm.fileExists(atPath: to.path) else { continue }
        try? fm.copyItem(at: from, to: to)
    }
}
