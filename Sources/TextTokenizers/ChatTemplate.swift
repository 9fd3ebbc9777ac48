// Chat formatting for `softrl generate --chat`. Jinja templates are not interpreted; the template text in
// tokenizer_config.json is recognised instead. Supported: ChatML (<|im_start|>role\n...<|im_end|>\n, used by
// SmolLM2, Qwen2 and others), with the template's default system message when it has one.
import Foundation

public enum ChatTemplate: Equatable, Sendable {
    case chatML(defaultSystem: String?)

    /// Reads `chat_template` from DIR/tokenizer_config.json (or DIR/chat_template.jinja).
    public static func load(directory: String) throws -> ChatTemplate {
        let dir = URL(fileURLWithPath: directory)
        var text: String? = nil
        if let data = FileManager.default.contents(atPath: dir.appendingPathComponent("tokenizer_config.json").path),
            let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        {
            text = obj["chat_template"] as? String
        }
        if text == nil,
            let data = FileManager.default.contents(atPath: dir.appendingPathComponent("chat_template.jinja").path)
        {
            text = String(decoding: data, as: UTF8.self)
        }
        guard let template = text else {
            throw TokenizerError.unsupported(
                path: directory, component: "chat template",
                detail: "no chat_template in tokenizer_config.json or chat_template.jinja")
        }
        return try parse(template, source: directory)
    }

    public static func parse(_ template: String, source: String = "chat_template") throws -> ChatTemplate {
        guard template.contains("<|im_start|>"), template.contains("<|im_end|>") else {
            throw TokenizerError.unsupported(
                path: source, component: "chat template",
                detail: "only ChatML templates (<|im_start|> ... <|im_end|>) are recognised")
        }
        // A default system message appears as a literal right after "<|im_start|>system\n" in the template.
        var system: String? = nil
        if let r = template.range(of: "<|im_start|>system\\n") ?? template.range(of: "<|im_start|>system\n") {
            let rest = template[r.upperBound...]
            if let end = rest.range(of: "<|im_end|>") {
                let literal = String(rest[..<end.lowerBound])
                if !literal.contains("{{") && !literal.contains("{%") && !literal.contains("'") { system = literal }
            }
        }
        return .chatML(defaultSystem: system)
    }

    /// The prompt text for one user message, ending with the assistant header (add_generation_prompt).
    public func render(user: String, system: String? = nil) -> String {
        switch self {
        case let .chatML(defaultSystem):
            var s = ""
            if let sys = system ?? defaultSystem { s += "<|im_start|>system\n\(sys)<|im_end|>\n" }
            s += "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
            return s
        }
    }
}
