// How a task's chain of thought ends: the paper's end-of-thinking marker ("The final answer is:"). For the
// character-level built-in tasks it is the single `<eot>` token. For text tasks on a subword tokenizer it is text
// that may span several tokens: it is detected on the decoded hard (or greedy-shadow) tokens, and when thinking
// ends by the shadow or by the length limit the marker's canonical token sequence is inserted before the answer.
import Foundation

public struct ThinkingMarker: @unchecked Sendable {
    /// Inserted (fed as hard tokens, not actions) when thinking ends by the greedy shadow or is forced; also what
    /// supervised traces put between the chain of thought and the answer.
    public let tokens: [Int32]
    /// The marker as text, when detection is on decoded text; nil for a single-token marker.
    public let text: String?
    private let decode: (([Int32]) -> String)?
    /// How many recent hard/shadow tokens `isComplete` looks at.
    public let window: Int

    /// A single-token marker (the built-in tasks' `<eot>`).
    public static func token(_ id: Int32) -> ThinkingMarker {
        ThinkingMarker(tokens: [id], text: nil, decode: nil, window: 1)
    }

    /// A text marker: complete once the decoded recent tokens contain `text`.
    public static func text(_ text: String, tokens: [Int32], decode: @escaping ([Int32]) -> String) -> ThinkingMarker {
        // A subword tokenizer can spend up to one token per byte; bound the window by that (plus context).
        ThinkingMarker(tokens: tokens, text: text, decode: decode, window: max(tokens.count, text.utf8.count) + 4)
    }

    init(tokens: [Int32], text: String?, decode: (([Int32]) -> String)?, window: Int) {
        self.tokens = tokens; self.text = text; self.decode = decode; self.window = window
    }

    /// True when the hard (or shadow) tokens so far end the thought. Called after each new token with the
    /// sequence so far; only its last `window` tokens are read.
    public func isComplete(_ recent: ArraySlice<Int32>) -> Bool {
        guard let text, let decode else { return recent.last == tokens[0] }
        guard !recent.isEmpty else { return false }
        return decode(Array(recent.suffix(window))).contains(text)
    }
}

extension ReasoningTask {
    /// The built-in character tasks end thinking with `<eot>`.
    public var thinkingMarker: ThinkingMarker { .token(Vocabulary.endOfThinking) }
    /// The token that ends an answer.
    public var endOfSequence: Int32 { Vocabulary.eos }
}
