// Vocabulary: the character-level token table shared by a task and the model that learns it.
// It is not a subword tokenizer: every token is one Character, apart from the four specials.
import Foundation

/// Thrown by `Vocabulary.encode` when the text holds a character the table does not know.
public enum VocabularyError: Error, CustomStringConvertible, Equatable {
    case unknownCharacter(Character, position: Int)

    public var description: String {
        switch self {
        case let .unknownCharacter(character, position):
            let scalars = character.unicodeScalars
                .map { "U+" + String($0.value, radix: 16, uppercase: true).leftPadded(to: 4) }
                .joined(separator: " ")
            return "character \(String(reflecting: String(character))) (\(scalars)) at position \(position) "
                + "is not in the vocabulary; build the vocabulary from text that contains it, "
                + "or remove it from the input"
        }
    }
}

public struct Vocabulary: Codable, Sendable, Equatable {
    /// id -> surface string. Ids 0...3 are the specials; every later entry is exactly one Character.
    public let tokens: [String]

    public static let pad: Int32 = 0
    public static let bos: Int32 = 1
    public static let eos: Int32 = 2
    /// Ends the chain of thought; stands for the paper's "The final answer is:".
    public static let endOfThinking: Int32 = 3
    public static let specialSurfaces = ["<pad>", "<bos>", "<eos>", "<eot>"]

    // Derived from `tokens`; rebuilt on decode rather than stored.
    private let idOfCharacter: [Character: Int32]

    /// Specials first, then the given characters sorted and deduplicated (so ids do not depend on input order).
    public init(characters: [Character]) {
        let ordinary = Array(Set(characters)).sorted()
        self.init(validatedTokens: Vocabulary.specialSurfaces + ordinary.map { String($0) })
    }

    private init(validatedTokens: [String]) {
        tokens = validatedTokens
        var lookup: [Character: Int32] = [:]
        for (id, surface) in validatedTokens.enumerated().dropFirst(Vocabulary.specialSurfaces.count) {
            lookup[Character(surface)] = Int32(id)
        }
        idOfCharacter = lookup
    }

    /// Shared by every built-in task, so one model can be trained on any of them.
    public static let builtIn = Vocabulary(characters: Array("0123456789abcdefghijklmnopqrstuvwxyz +-*=,:>?|;"))

    public var count: Int { tokens.count }

    /// One id per Character. Specials are never produced: "<eos>" in the text is five ordinary characters.
    public func encode(_ text: String) throws -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.count)
        for (position, character) in text.enumerated() {
            guard let id = idOfCharacter[character] else {
                throw VocabularyError.unknownCharacter(character, position: position)
            }
            ids.append(id)
        }
        return ids
    }

    /// Specials are rendered as their surface strings; ids outside the table as "<unk:ID>" (decode never fails).
    public func decode(_ ids: [Int32]) -> String {
        var text = ""
        for id in ids {
            if id >= 0, Int(id) < tokens.count {
                text += tokens[Int(id)]
            } else {
                text += "<unk:\(id)>"
            }
        }
        return text
    }

    /// True for pad/bos/eos/eot.
    public static func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < specialSurfaces.count
    }

    /// The id of a single character, if it is in the table.
    public func id(of character: Character) -> Int32? { idOfCharacter[character] }

    // MARK: Codable: only `tokens` is stored; the lookup is rebuilt and the layout checked.

    private enum CodingKeys: String, CodingKey { case tokens }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let stored = try container.decode([String].self, forKey: .tokens)
        guard Array(stored.prefix(Vocabulary.specialSurfaces.count)) == Vocabulary.specialSurfaces else {
            throw DecodingError.dataCorruptedError(
                forKey: .tokens, in: container,
                debugDescription: "a vocabulary must start with the specials \(Vocabulary.specialSurfaces)")
        }
        let ordinary = stored.dropFirst(Vocabulary.specialSurfaces.count)
        guard ordinary.allSatisfy({ $0.count == 1 }), Set(ordinary).count == ordinary.count else {
            throw DecodingError.dataCorruptedError(
                forKey: .tokens, in: container,
                debugDescription: "after the specials every vocabulary token must be one distinct character")
        }
        self.init(validatedTokens: stored)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tokens, forKey: .tokens)
    }

    public static func == (lhs: Vocabulary, rhs: Vocabulary) -> Bool { lhs.tokens == rhs.tokens }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
