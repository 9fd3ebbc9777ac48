// `softrl tokenize` and the text side of `softrl generate`: a model directory's tokenizer.json (Hugging Face
// format), its chat template, and its end-of-sequence ids.
import ArgumentParser
import Foundation
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
              let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let v = obj["eos_token_id"] else { continue }
        if let n = v as? NSNumber { return [n.int32Value] }
        if let list = v as? [NSNumber] { return Set(list.map(\.int32Value)) }
    }
    return []
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Encode text with a model directory's tokenizer.json; prints the ids as a JSON array.")
    @Argument(help: "Model directory holding tokenizer.json, or a tokenizer.json file.") var dir: String
    @Option(help: "Text to encode.") var text: String
    @Flag(help: "Do not add the tokenizer's special tokens (e.g. a BOS from its post-processor).") var noSpecialTokens = false
    @Flag(help: "Decode the ids back and print the text on a second line.") var decode = false

    func run() throws {
        let tok = try loadTokenizer(dir)
        let ids = tok.encode(text, addSpecialTokens: !noSpecialTokens)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
        if decode { print(tok.decode(ids, skipSpecialTokens: false)) }
    }
}
