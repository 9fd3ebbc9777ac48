// Tests for Vocabulary, RewardShaping and TaskOptions decoding. Not task generation.
import XCTest
@testable import Tasks
import TensorMath

final class VocabularyTests: XCTestCase {
    func testBuiltInLayout() {
        let vocabulary = Vocabulary.builtIn
        XCTAssertEqual(Array(vocabulary.tokens.prefix(4)), ["<pad>", "<bos>", "<eos>", "<eot>"])
        // 4 specials + 10 digits + 26 letters + 11 symbols, counted by hand.
        XCTAssertEqual(vocabulary.count, 51)
        XCTAssertLessThanOrEqual(vocabulary.count, 64)
        XCTAssertEqual(Set(vocabulary.tokens).count, vocabulary.count, "ids must be unique")
        for character in "0123456789abcdefghijklmnopqrstuvwxyz +-*=,:>?|;" {
            XCTAssertNoThrow(try vocabulary.encode(String(character)))
        }
    }

    func testInitSortsAndDeduplicates() {
        let vocabulary = Vocabulary(characters: ["z", "b", "a", "b", " "])
        XCTAssertEqual(vocabulary.tokens, ["<pad>", "<bos>", "<eos>", "<eot>", " ", "a", "b", "z"])
        XCTAssertEqual(vocabulary, Vocabulary(characters: [" ", "a", "z", "b"]), "input order must not matter")
    }

    func testEncodeDecodeRoundTrip() throws {
        let vocabulary = Vocabulary(characters: Array("abc, "))
        let ids = try vocabulary.encode("cab, a")
        // Hand-worked ids: " "=4, ","=5, "a"=6, "b"=7, "c"=8.
        XCTAssertEqual(ids, [8, 6, 7, 5, 4, 6])
        XCTAssertEqual(vocabulary.decode(ids), "cab, a")
        XCTAssertEqual(
            vocabulary.decode([Vocabulary.bos] + ids + [Vocabulary.endOfThinking, Vocabulary.eos, Vocabulary.pad]),
            "<bos>cab, a<eot><eos><pad>")
        XCTAssertEqual(vocabulary.decode([99, -1]), "<unk:99><unk:-1>")
    }

    func testUnknownCharacterNamesCharacterAndPosition() {
        XCTAssertThrowsError(try Vocabulary.builtIn.encode("12+A3")) { error in
            XCTAssertEqual(error as? VocabularyError, .unknownCharacter("A", position: 3))
            let message = String(describing: error)
            XCTAssertTrue(message.contains("\"A\""), message)
            XCTAssertTrue(message.contains("position 3"), message)
            XCTAssertTrue(message.contains("U+0041"), message)
        }
        // Special surfaces are not recognised inside text: '<' is simply unknown here.
        XCTAssertThrowsError(try Vocabulary.builtIn.encode("<eos>"))
    }

    func testCodableRoundTripAndValidation() throws {
        let vocabulary = Vocabulary(characters: Array("xyz"))
        let data = try JSONEncoder().encode(vocabulary)
        let decoded = try JSONDecoder().decode(Vocabulary.self, from: data)
        XCTAssertEqual(decoded, vocabulary)
        XCTAssertEqual(try decoded.encode("zyx"), try vocabulary.encode("zyx"), "lookup must be rebuilt")
        let noSpecials = Data(#"{"tokens": ["a", "b"]}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(Vocabulary.self, from: noSpecials))
        let multiCharacter = Data(#"{"tokens": ["<pad>", "<bos>", "<eos>", "<eot>", "ab"]}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(Vocabulary.self, from: multiCharacter))
    }

    func testRewardShaping() throws {
        let shaping = RewardShaping()
        XCTAssertEqual(shaping.reward(.correct), 1.0)
        XCTAssertEqual(shaping.reward(.wellFormedWrong), 0.1)
        XCTAssertEqual(shaping.reward(.malformed), 0.0)
        let partial = try JSONDecoder().decode(RewardShaping.self, from: Data(#"{"correct": 100}"#.utf8))
        XCTAssertEqual(partial, RewardShaping(correct: 100, wellFormedWrong: 0.1, malformed: 0))
    }

    func testTaskOptionsPartialDecoding() throws {
        let options = try JSONDecoder().decode(TaskOptions.self, from: Data(#"{"seed": 7, "reachNodes": 10}"#.utf8))
        XCTAssertEqual(options.seed, 7)
        XCTAssertEqual(options.reachNodes, 10)
        XCTAssertEqual(options.mnnsDigits, 4)
        XCTAssertEqual(options.arithDigits, 2)
        XCTAssertEqual(options.testFraction, 0.1)
    }

    func testDeterministicRandomIsPinned() {
        // SplitMix64 reference values for seed 0 (from the published algorithm's test vector).
        var rng = SplitMix64(seed: 0)
        XCTAssertEqual(rng.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(rng.next(), 0x6E78_9E6A_A1B9_65F4)
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        var first = Array(0..<50), second = Array(0..<50)
        a.shuffle(&first)
        b.shuffle(&second)
        XCTAssertEqual(first, second)
        XCTAssertEqual(first.sorted(), Array(0..<50), "shuffle must be a permutation")
        XCTAssertNotEqual(first, Array(0..<50))
    }
}
