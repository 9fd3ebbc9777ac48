// Hand-written scanners for the pre-tokenizer regular expressions that byte-level BPE tokenizers ship (GPT-2's
// ByteLevel pattern and the Llama-3 / Qwen2-style Split pattern). Each implements the pattern's semantics
// (leftmost match, alternatives tried in order, greedy quantifiers with backtracking, `\s+(?!\S)`) over Unicode
// scalars; tests check them against the Python `tokenizers` package, which uses Oniguruma.
import Foundation

/// Character classes the patterns use: `\p{L}`, `\p{N}`, `\s` (Unicode White_Space) and CR/LF.
struct ScalarClasses {
    static let letter: UInt8 = 1, number: UInt8 = 2, space: UInt8 = 4, newline: UInt8 = 8

    private static let ascii: [UInt8] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    static func classify(_ s: Unicode.Scalar) -> UInt8 {
        var c: UInt8 = 0
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: c |= letter
        case .decimalNumber, .letterNumber, .otherNumber: c |= number
        default: break
        }
        if s.properties.isWhitespace { c |= space }
        if s == "\r" || s == "\n" { c |= newline }
        return c
    }

    @inline(__always) static func of(_ v: UInt32) -> UInt8 {
        if v < 128 { return ascii[Int(v)] }
        return classify(Unicode.Scalar(v) ?? " ")
    }
}

/// The known split patterns, recognised by their exact text in tokenizer.json.
enum SplitPattern: Equatable {
    /// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    case gpt2
    /// Llama 3 (maxDigits 3) and Qwen2 (maxDigits 1): (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
    /// \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    case llama3(maxDigits: Int)

    static let gpt2Text = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Text =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Text =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init?(regex: String) {
        switch regex {
        case Self.gpt2Text: self = .gpt2
        case Self.llama3Text: self = .llama3(maxDigits: 3)
        case Self.qwen2Text: self = .llama3(maxDigits: 1)
        default: return nil
        }
    }

    /// Appends the match ranges of the pattern in `s[lo..<hi]` (matches cover the text: every scalar is in one).
    /// Non-matching gaps cannot occur with these patterns (the final `\s+` and the negated class cover all).
    func matches(_ s: UnsafeBufferPointer<UInt32>, _ lo: Int, _ hi: Int, into out: inout [Range<Int>]) {
        var i = lo
        while i < hi {
            let n = matchLength(s, i, hi)
            if n == 0 { // cannot happen for these patterns; keep the scalar as its own piece rather than loop
                out.append(i..<(i + 1)); i += 1; continue
            }
            out.append(i..<(i + n)); i += n
        }
    }

    private func matchLength(_ s: UnsafeBufferPointer<UInt32>, _ i: Int, _ hi: Int) -> Int {
        let L = ScalarClasses.letter, N = ScalarClasses.number, S = ScalarClasses.space, NL = ScalarClasses.newline
        @inline(__always) func cls(_ k: Int) -> UInt8 { k < hi ? ScalarClasses.of(s[k]) : 0 }
        @inline(__always) func run(_ from: Int, _ mask: UInt8) -> Int { // end of a run of scalars in `mask`
            var k = from
            while k < hi && ScalarClasses.of(s[k]) & mask != 0 { k += 1 }
            return k
        }
        @inline(__always) func runOther(_ from: Int) -> Int { // end of a run of [^\s\p{L}\p{N}]
            var k = from
            while k < hi && ScalarClasses.of(s[k]) & (L | N | S) == 0 { k += 1 }
            return k
        }
        let c = s[i], ci = cls(i)
        let caseInsensitive: Bool
        switch self {
        case .gpt2: caseInsensitive = false
        case .llama3: caseInsensitive = true
        }
        // Contractions.
        if c == 0x27, i + 1 < hi {
            var a = s[i + 1]
            if caseInsensitive, a >= 0x41, a <= 0x5A { a += 0x20 }
            if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 } // s t m d
            if i + 2 < hi {
                var b = s[i + 2]
                if caseInsensitive, b >= 0x41, b <= 0x5A { b += 0x20 }
                if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 } // re ve ll
            }
        }
        switch self {
        case .gpt2:
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            for cl in [L, N] {
                if c == 0x20, cls(i + 1) & cl != 0 { return run(i + 1, cl) - i }
                if ci & cl != 0 { return run(i, cl) - i }
            }
            if c == 0x20, i + 1 < hi, cls(i + 1) & (L | N | S) == 0 { return runOther(i + 1) - i }
            if ci & (L | N | S) == 0 { return runOther(i) - i }
        case let .llama3(maxDigits):
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            if ci & (NL | L | N) == 0, cls(i + 1) & L != 0 { return run(i + 1, L) - i }
            if ci & L != 0 { return run(i, L) - i }
            // `\p{N}{1,maxDigits}`
            if ci & N != 0 {
                var k = i
                while k < hi, k - i < maxDigits, cls(k) & N != 0 { k += 1 }
                return k - i
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            let start = c == 0x20 ? i + 1 : i
            if start < hi, cls(start) & (L | N | S) == 0 {
                let e = runOther(start)
                return run(e, NL) - i
            }
            // `\s*[\r\n]+`: up to and including the last CR/LF of the whitespace run.
            if ci & S != 0 {
                let e = run(i, S)
                var k = e - 1
                while k >= i, cls(k) & NL == 0 { k -= 1 }
                if k >= i { return k + 1 - i }
            }
        }
        // `\s+(?!\S)` then `\s+`.
        if ci & S != 0 {
            let e = run(i, S)
            if e == hi || e - i == 1 { return e - i }
            return e - 1 - i
        }
        return 0
    }
}
