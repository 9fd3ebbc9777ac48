// Errors of the tokenizer module. Each names the file and the part of it that is wrong or not supported.
import Foundation

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case malformed(path: String, reason: String)
    /// A component (normalizer, pre-tokenizer, model, decoder, post-processor) or setting this loader does not
    /// implement; `component` is its JSON path, e.g. "pre_tokenizer.pretokenizers[1]".
    case unsupported(path: String, component: String, detail: String)

    public var description: String {
        switch self {
        case let .fileNotFound(path):
            return
                "tokenizer file not found: \(path) (expected a Hugging Face tokenizer.json, or a directory holding one)"
        case let .malformed(path, reason):
            return "\(path) is not a valid tokenizer.json: \(reason)"
        case let .unsupported(path, component, detail):
            return "\(path): \(component) is not supported: \(detail). Supported: BPE models (byte-level like GPT-2 / "
                + "Llama 3 / SmolLM2, or SentencePiece-style like Llama 2 / TinyLlama with byte fallback)"
        }
    }
}
