// A Hugging Face tokenizer.json loader and BPE encoder/decoder, written from the file format's documented
// semantics. Supported: BPE models, byte-level (GPT-2, Llama 3, SmolLM2: split regex, byte-to-unicode map,
// merges by rank, `ignore_merges`) and SentencePiece-style (Llama 2, TinyLlama: Prepend/Replace normalizers or a
// Metaspace pre-tokenizer, byte fallback, unk fusing); added and special tokens (leftmost-longest, lstrip/rstrip);
// Digits/Split/ByteLevel/Metaspace pre-tokenizers; NFC/NFKC/NFD/NFKD/Lowercase/Prepend/Replace normalizers;
// TemplateProcessing/ByteLevel post-processors; ByteLevel/Metaspace/Replace/ByteFallback/Fuse/Strip decoders.
// Anything else is rejected at load time with an error naming it. No model dependency.
import Foundation

public final class HFTokenizer: @unchecked Sendable {
    public struct AddedToken: Sendable, Equatable {
        public let id: Int32
        public let content: String
        public let special: Bool
        let scalars: [UInt32]
        let lstrip: Bool, rstrip: Bool, singleWord: Bool
    }

    enum Normalizer {
        case prepend(String), replace(String, String), nfc, nfkc, nfd, nfkd, lowercase
    }
    enum PreTokenizer {
        case split(SplitPattern)
        case digits(individual: Bool)
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
        case metaspace(replacement: UInt32, prependScheme: PrependScheme, split: Bool)
    }
    enum PrependScheme: String { case always, first, never }
    enum Decoder {
        case byteLevel
        case metaspace(replacement: Character, prependScheme: PrependScheme)
        case replace(String, String)
        case byteFallback, fuse
        case strip(Character, start: Int, stop: Int)
    }
    enum TemplateItem { case special([Int32]), sequence }

    /// Where the tokenizer was loaded from (for messages).
    public let source: String
    /// Model vocabulary plus added tokens: one past the largest id.
    public let vocabSize: Int
    public let addedTokens: [AddedToken]
    public let isByteLevel: Bool

    let vocab: [String: Int32]
    let idToToken: [Int32: String]
    let addedById: [Int32: AddedToken]
    let addedByFirstScalar: [UInt32: [AddedToken]]
    let merges: [UInt64: (rank: Int32, id: Int32)]
    let normalizers: [Normalizer]
    let preTokenizers: [PreTokenizer]
    let decoders: [Decoder]
    let template: [TemplateItem]?
    let unkId: Int32?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let byteFallbackIds: [Int32?]
    /// Byte-level: id of each byte's mapped character.
    let byteIds: [Int32?]
    var singleScalarIds: [UInt32: Int32] = [:]

    private var cache: [[UInt32]: [Int32]] = [:]
    private let lock = NSLock()

    /// Token ids this loader accepts: 0..<2^24. The largest real vocabularies have ~260k tokens; the bound keeps an id
    /// from a damaged or hostile file from truncating (2^40 became 0) or sizing per-token tables without end.
    public static let maxTokenIds = 1 << 24

    /// An id from the JSON: an integer (not a boolean or a fraction) in 0..<maxTokenIds, else nil.
    public static func tokenId(_ value: Any?) -> Int32? {
        guard let n = value as? NSNumber else { return nil }
        switch String(cString: n.objCType) {
        case "c", "B", "d", "f": return nil
        case "Q", "L": return n.uint64Value < UInt64(maxTokenIds) ? Int32(n.uint64Value) : nil
        default: return n.int64Value >= 0 && n.int64Value < Int64(maxTokenIds) ? Int32(n.int64Value) : nil
        }
    }

    /// `path` is a tokenizer.json file or a directory containing one.
    public convenience init(path: String) throws {
        var isDir: ObjCBool = false
        var file = path
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            file = (path as NSString).appendingPathComponent("tokenizer.json")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TokenizerError.fileNotFound(path: file)
        }
        try self.init(json: data, source: file)
    }

    public init(json data: Data, source: String = "tokenizer.json") throws {
        self.source = source
        func bad(_ reason: String) -> TokenizerError { .malformed(path: source, reason: reason) }
        func unsupported(_ component: String, _ detail: String) -> TokenizerError {
            .unsupported(path: source, component: component, detail: detail)
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw bad("not a JSON object")
        }
        // Model.
        guard let model = root["model"] as? [String: Any] else { throw bad("missing \"model\" object") }
        let modelType = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "?")
        guard modelType == "BPE" else {
            throw unsupported(
                "model (type \(modelType))", "only BPE models are implemented (not WordPiece, Unigram or WordLevel)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key] as? String, !v.isEmpty {
                throw unsupported("model.\(key)", "value \"\(v)\" (subword prefixes/suffixes)")
            }
        }
        if let dropout = model["dropout"] as? Double, dropout > 0 {
            throw unsupported("model.dropout", "BPE dropout \(dropout) (encoding must be deterministic)")
        }
        guard let vocabJSON = model["vocab"] as? [String: Any] else {
            throw bad("model.vocab is missing or not an object")
        }
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(vocabJSON.count)
        var idToToken: [Int32: String] = [:]
        idToToken.reserveCapacity(vocabJSON.count)
        for (token, value) in vocabJSON {
            guard let id = Self.tokenId(value) else {
                throw bad(
                    "model.vocab[\(String(reflecting: token))] is \(value), not a token id: ids are integers in 0..<\(Self.maxTokenIds)"
                )
            }
            vocab[token] = id
            idToToken[id] = token
        }
        self.vocab = vocab
        guard let mergesJSON = model["merges"] as? [Any] else { throw bad("model.merges is missing or not an array") }
        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        merges.reserveCapacity(mergesJSON.count)
        for (rank, m) in mergesJSON.enumerated() {
            let a: String, b: String
            if let s = m as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw bad("model.merges[\(rank)] \(String(reflecting: s)) is not two tokens separated by a space")
                }
                a = String(parts[0]); b = String(parts[1])
            } else if let pair = m as? [String], pair.count == 2 {
                a = pair[0]; b = pair[1]
            } else {
                throw bad("model.merges[\(rank)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard let ia = vocab[a], let ib = vocab[b] else {
                throw bad(
                    "model.merges[\(rank)] uses a token missing from the vocabulary: \(String(reflecting: vocab[a] == nil ? a : b))"
                )
            }
            guard let ic = vocab[a + b] else {
                throw bad("model.merges[\(rank)] produces \(String(reflecting: a + b)), which is not in the vocabulary")
            }
            let key = UInt64(UInt32(bitPattern: ia)) << 32 | UInt64(UInt32(bitPattern: ib))
            if merges[key] == nil { merges[key] = (Int32(rank), ic) }
        }
        self.merges = merges
        if let unk = model["unk_token"] as? String {
            guard let id = vocab[unk] else {
                throw bad("model.unk_token \(String(reflecting: unk)) is not in the vocabulary")
            }
            unkId = id
        } else {
            unkId = nil
        }
        fuseUnk = model["fuse_unk"] as? Bool ?? false
        byteFallback = model["byte_fallback"] as? Bool ?? false
        ignoreMerges = model["ignore_merges"] as? Bool ?? false
        byteFallbackIds = (0..<256).map { vocab[String(format: "<0x%02X>", $0)] }

        // Added tokens.
        var added: [AddedToken] = []
        for (k, t) in ((root["added_tokens"] as? [[String: Any]]) ?? []).enumerated() {
            guard let content = t["content"] as? String, !content.isEmpty else {
                throw bad("added_tokens[\(k)] needs a non-empty content")
            }
            guard let id = Self.tokenId(t["id"]) else {
                throw bad(
                    "added_tokens[\(k)] (\(String(reflecting: content))) has id \(t["id"].map { "\($0)" } ?? "none"): ids are integers in 0..<\(Self.maxTokenIds)"
                )
            }
            added.append(
                AddedToken(
                    id: id, content: content, special: t["special"] as? Bool ?? false,
                    scalars: content.unicodeScalars.map(\.value),
                    lstrip: t["lstrip"] as? Bool ?? false, rstrip: t["rstrip"] as? Bool ?? false,
                    singleWord: t["single_word"] as? Bool ?? false))
            idToToken[id] = content
        }
        addedTokens = added
        addedById = Dictionary(added.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byFirst: [UInt32: [AddedToken]] = [:]
        for t in added { byFirst[t.scalars[0], default: []].append(t) }
        for k in byFirst.keys { byFirst[k]!.sort { $0.scalars.count > $1.scalars.count } }
        addedByFirstScalar = byFirst
        self.idToToken = idToToken
        vocabSize = Int((idToToken.keys.max() ?? -1) + 1)

        // Normalizer.
        func parseNormalizer(_ n: [String: Any], _ where_: String) throws -> [Normalizer] {
            let type = n["type"] as? String ?? "?"
            switch type {
            case "Sequence":
                guard let list = n["normalizers"] as? [[String: Any]] else {
                    throw bad("\(where_).normalizers missing")
                }
                return try list.enumerated().flatMap {
                    try parseNormalizer($0.element, "\(where_).normalizers[\($0.offset)]")
                }
            case "Prepend":
                guard let p = n["prepend"] as? String else { throw bad("\(where_).prepend missing") }
                return [.prepend(p)]
            case "Replace":
                guard let pattern = n["pattern"] as? [String: Any], let content = n["content"] as? String else {
                    throw bad("\(where_) needs pattern and content")
                }
                guard let s = pattern["String"] as? String else {
                    throw unsupported(
                        "\(where_) (Replace with a regex pattern)", "only literal String patterns are implemented")
                }
                return [.replace(s, content)]
            case "NFC": return [.nfc]
            case "NFKC": return [.nfkc]
            case "NFD": return [.nfd]
            case "NFKD": return [.nfkd]
            case "Lowercase": return [.lowercase]
            default: throw unsupported("\(where_) (type \(type))", "normalizer not implemented")
            }
        }
        normalizers = try (root["normalizer"] as? [String: Any]).map { try parseNormalizer($0, "normalizer") } ?? []

        // Pre-tokenizer.
        func parsePre(_ p: [String: Any], _ where_: String) throws -> [PreTokenizer] {
            let type = p["type"] as? String ?? "?"
            switch type {
            case "Sequence":
                guard let list = p["pretokenizers"] as? [[String: Any]] else {
                    throw bad("\(where_).pretokenizers missing")
                }
                return try list.enumerated().flatMap {
                    try parsePre($0.element, "\(where_).pretokenizers[\($0.offset)]")
                }
            case "ByteLevel":
                return [
                    .byteLevel(
                        addPrefixSpace: p["add_prefix_space"] as? Bool ?? false,
                        useRegex: p["use_regex"] as? Bool ?? true)
                ]
            case "Digits":
                return [.digits(individual: p["individual_digits"] as? Bool ?? false)]
            case "Split":
                let behavior = p["behavior"] as? String ?? "?"
                guard behavior == "Isolated" else {
                    throw unsupported(
                        "\(where_) (Split behavior \(behavior))", "only the Isolated behavior is implemented")
                }
                if p["invert"] as? Bool ?? false {
                    throw unsupported("\(where_) (Split invert)", "inverted splits are not implemented")
                }
                guard let pattern = p["pattern"] as? [String: Any], let regex = pattern["Regex"] as? String else {
                    throw unsupported(
                        "\(where_) (Split with a String pattern)", "only the known regex patterns are implemented")
                }
                guard let known = SplitPattern(regex: regex) else {
                    throw unsupported(
                        "\(where_) (Split regex \(String(reflecting: regex)))",
                        "only the GPT-2, Llama 3 and Qwen2 pre-tokenizer patterns are implemented (hand-written scanners)"
                    )
                }
                return [.split(known)]
            case "Metaspace":
                guard let r = (p["replacement"] as? String)?.unicodeScalars, r.count == 1 else {
                    throw bad("\(where_).replacement must be one character")
                }
                var scheme = PrependScheme.always
                if let s = p["prepend_scheme"] as? String {
                    guard let v = PrependScheme(rawValue: s) else {
                        throw unsupported("\(where_).prepend_scheme", "value \(s)")
                    }
                    scheme = v
                } else if let add = p["add_prefix_space"] as? Bool {
                    scheme = add ? .always : .never
                }
                return [
                    .metaspace(replacement: r.first!.value, prependScheme: scheme, split: p["split"] as? Bool ?? true)
                ]
            default:
                throw unsupported("\(where_) (type \(type))", "pre-tokenizer not implemented")
            }
        }
        preTokenizers = try (root["pre_tokenizer"] as? [String: Any]).map { try parsePre($0, "pre_tokenizer") } ?? []
        isByteLevel = preTokenizers.contains { if case .byteLevel = $0 { return true } else { return false } }
        if isByteLevel {
            let table = ByteLevelMap.byteToScalar
            byteIds = (0..<256).map { vocab[String(Character(Unicode.Scalar(table[$0])!))] }
        } else {
            byteIds = []
        }

        // Decoder.
        func parseDecoder(_ d: [String: Any], _ where_: String) throws -> [Decoder] {
            let type = d["type"] as? String ?? "?"
            switch type {
            case "Sequence":
                guard let list = d["decoders"] as? [[String: Any]] else { throw bad("\(where_).decoders missing") }
                return try list.enumerated().flatMap {
                    try parseDecoder($0.element, "\(where_).decoders[\($0.offset)]")
                }
            case "ByteLevel": return [.byteLevel]
            case "ByteFallback": return [.byteFallback]
            case "Fuse": return [.fuse]
            case "Replace":
                guard let pattern = d["pattern"] as? [String: Any], let content = d["content"] as? String,
                    let s = pattern["String"] as? String
                else { throw unsupported("\(where_) (Replace)", "only literal String patterns are implemented") }
                return [.replace(s, content)]
            case "Strip":
                guard let c = (d["content"] as? String)?.first else { throw bad("\(where_).content missing") }
                return [.strip(c, start: (d["start"] as? Int) ?? 0, stop: (d["stop"] as? Int) ?? 0)]
            case "Metaspace":
                guard let r = (d["replacement"] as? String)?.first else { throw bad("\(where_).replacement missing") }
                var scheme = PrependScheme.always
                if let s = d["prepend_scheme"] as? String {
                    scheme = PrependScheme(rawValue: s) ?? .always
                } else if let add = d["add_prefix_space"] as? Bool {
                    scheme = add ? .always : .never
                }
                return [.metaspace(replacement: r, prependScheme: scheme)]
            default:
                throw unsupported("\(where_) (type \(type))", "decoder not implemented")
            }
        }
        decoders = try (root["decoder"] as? [String: Any]).map { try parseDecoder($0, "decoder") } ?? []

        // Post-processor: the single-sequence template.
        func parsePost(_ p: [String: Any], _ where_: String) throws -> [TemplateItem]? {
            let type = p["type"] as? String ?? "?"
            switch type {
            case "ByteLevel": return nil
            case "Sequence":
                guard let list = p["processors"] as? [[String: Any]] else { throw bad("\(where_).processors missing") }
                var result: [TemplateItem]? = nil
                for (k, q) in list.enumerated() {
                    if let t = try parsePost(q, "\(where_).processors[\(k)]") {
                        guard result == nil else { throw unsupported(where_, "more than one TemplateProcessing") }
                        result = t
                    }
                }
                return result
            case "TemplateProcessing":
                guard let single = p["single"] as? [[String: Any]] else { throw bad("\(where_).single missing") }
                let specials = p["special_tokens"] as? [String: [String: Any]] ?? [:]
                return try single.enumerated().map { (k, item) -> TemplateItem in
                    if let s = item["SpecialToken"] as? [String: Any], let name = s["id"] as? String {
                        if let raw = specials[name]?["ids"] as? [Any] {
                            let ids = raw.compactMap(Self.tokenId)
                            guard ids.count == raw.count else {
                                throw bad(
                                    "\(where_).special_tokens[\(String(reflecting: name))].ids is \(raw): ids are integers in 0..<\(Self.maxTokenIds)"
                                )
                            }
                            return .special(ids)
                        }
                        if let id = vocab[name] ?? added.first(where: { $0.content == name })?.id {
                            return .special([id])
                        }
                        throw bad(
                            "\(where_).single[\(k)] names special token \(String(reflecting: name)), which has no id")
                    }
                    if item["Sequence"] != nil { return .sequence }
                    throw bad("\(where_).single[\(k)] is neither SpecialToken nor Sequence")
                }
            default:
                throw unsupported("\(where_) (type \(type))", "post-processor not implemented")
            }
        }
        template = try (root["post_processor"] as? [String: Any]).flatMap { try parsePost($0, "post_processor") }

        if !isByteLevel {
            var single: [UInt32: Int32] = [:]
            for (token, id) in vocab where token.unicodeScalars.count == 1 {
                single[token.unicodeScalars.first!.value] = id
            }
            singleScalarIds = single
        }
        if let r = root["truncation"], !(r is NSNull) {
            throw unsupported("truncation", "remove it (set to null); SoftRL never truncates")
        }
    }

    // MARK: Lookups

    public func tokenID(_ token: String) -> Int32? {
        addedTokens.first { $0.content == token }?.id ?? vocab[token]
    }
    public func token(for id: Int32) -> String? { idToToken[id] }
    public func isSpecial(_ id: Int32) -> Bool { addedById[id]?.special ?? false }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        let scalars = Array(text.unicodeScalars.lazy.map(\.value))
        var ids: [Int32] = []
        ids.reserveCapacity(scalars.count / 3 + 4)
        // Split on added tokens (leftmost-longest), encode the text between them.
        var chunkStart = 0, i = 0
        while i < scalars.count {
            if let candidates = addedByFirstScalar[scalars[i]], let m = matchAdded(candidates, scalars, at: i) {
                var lo = i, hi = i + m.scalars.count
                if m.lstrip { while lo > chunkStart, isWhite(scalars[lo - 1]) { lo -= 1 } }
                if m.rstrip { while hi < scalars.count, isWhite(scalars[hi]) { hi += 1 } }
                if lo > chunkStart { encodeChunk(scalars, chunkStart, lo, into: &ids) }
                ids.append(m.id)
                i = hi; chunkStart = hi
            } else {
                i += 1
            }
        }
        if chunkStart < scalars.count { encodeChunk(scalars, chunkStart, scalars.count, into: &ids) }
        if addSpecialTokens, let template {
            var out: [Int32] = []
            for item in template {
                switch item {
                case let .special(s): out += s
                case .sequence: out += ids
                }
            }
            return out
        }
        return ids
    }

    private func isWhite(_ v: UInt32) -> Bool { ScalarClasses.of(v) & ScalarClasses.space != 0 }

    private func matchAdded(_ candidates: [AddedToken], _ s: [UInt32], at i: Int) -> AddedToken? {
        outer: for t in candidates where i + t.scalars.count <= s.count {
            for k in 1..<t.scalars.count where s[i + k] != t.scalars[k] { continue outer }
            if t.singleWord {
                func word(_ v: UInt32) -> Bool {
                    ScalarClasses.of(v) & (ScalarClasses.letter | ScalarClasses.number) != 0 || v == 0x5F
                }
                if i > 0, word(s[i - 1]) { continue }
                let e = i + t.scalars.count
                if e < s.count, word(s[e]) { continue }
            }
            return t
        }
        return nil
    }

    /// Normalizes, pre-tokenizes and BPE-encodes the text `s[lo..<hi]` (no added tokens inside).
    private func encodeChunk(_ s: [UInt32], _ lo: Int, _ hi: Int, into ids: inout [Int32]) {
        var buf: [UInt32]
        var pieces: [Range<Int>]
        var starts: [Bool] // piece starts at original offset 0 (Metaspace "first")
        if normalizers.isEmpty {
            buf = Array(s[lo..<hi])
        } else {
            var text = String(String.UnicodeScalarView(s[lo..<hi].compactMap(Unicode.Scalar.init)))
            for n in normalizers {
                switch n {
                case let .prepend(p): if !text.isEmpty { text = p + text }
                case let .replace(a, b): text = text.replacingOccurrences(of: a, with: b)
                case .nfc: text = text.precomposedStringWithCanonicalMapping
                case .nfkc: text = text.precomposedStringWithCompatibilityMapping
                case .nfd: text = text.decomposedStringWithCanonicalMapping
                case .nfkd: text = text.decomposedStringWithCompatibilityMapping
                case .lowercase: text = text.lowercased()
                }
            }
            buf = text.unicodeScalars.map(\.value)
        }
        if buf.isEmpty { return }
        pieces = [0..<buf.count]
        starts = [lo == 0]
        for p in preTokenizers {
            switch p {
            case let .split(pattern):
                var next: [Range<Int>] = [], nextStarts: [Bool] = []
                buf.withUnsafeBufferPointer { b in
                    for (k, r) in pieces.enumerated() {
                        let before = next.count
                        pattern.matches(b, r.lowerBound, r.upperBound, into: &next)
                        for j in before..<next.count { nextStarts.append(starts[k] && j == before) }
                    }
                }
                pieces = next; starts = nextStarts
            case let .digits(individual):
                var next: [Range<Int>] = [], nextStarts: [Bool] = []
                for (k, r) in pieces.enumerated() {
                    var i = r.lowerBound, pieceStart = r.lowerBound
                    func emit(_ e: Int) {
                        if e > pieceStart {
                            next.append(pieceStart..<e); nextStarts.append(starts[k] && pieceStart == r.lowerBound)
                        }; pieceStart = e
                    }
                    while i < r.upperBound {
                        if ScalarClasses.of(buf[i]) & ScalarClasses.number != 0 {
                            emit(i)
                            var e = i + 1
                            if !individual {
                                while e < r.upperBound, ScalarClasses.of(buf[e]) & ScalarClasses.number != 0 { e += 1 }
                            }
                            emit(e); i = e
                        } else {
                            i += 1
                        }
                    }
                    emit(r.upperBound)
                }
                pieces = next; starts = nextStarts
            case let .byteLevel(addPrefixSpace, useRegex):
                if addPrefixSpace {
                    var nb: [UInt32] = [], np: [Range<Int>] = []
                    for r in pieces {
                        let a = nb.count
                        if buf[r.lowerBound] != 0x20 { nb.append(0x20) }
                        nb.append(contentsOf: buf[r])
                        np.append(a..<nb.count)
                    }
                    buf = nb; pieces = np
                }
                if useRegex {
                    var next: [Range<Int>] = [], nextStarts: [Bool] = []
                    buf.withUnsafeBufferPointer { b in
                        for (k, r) in pieces.enumerated() {
                            let before = next.count
                            SplitPattern.gpt2.matches(b, r.lowerBound, r.upperBound, into: &next)
                            for j in before..<next.count { nextStarts.append(starts[k] && j == before) }
                        }
                    }
                    pieces = next; starts = nextStarts
                }
            case let .metaspace(rep, scheme, split):
                var nb: [UInt32] = [], np: [Range<Int>] = [], ns: [Bool] = []
                for (k, r) in pieces.enumerated() {
                    let a = nb.count
                    let first = buf[r.lowerBound]
                    let startsWithRep = first == 0x20 || first == rep
                    if !startsWithRep && (scheme == .always || (scheme == .first && starts[k])) { nb.append(rep) }
                    for v in buf[r] { nb.append(v == 0x20 ? rep : v) }
                    if split {
                        var ps = a
                        for j in (a + 1)..<max(a + 1, nb.count) where nb[j] == rep {
                            np.append(ps..<j); ns.append(starts[k] && ps == a); ps = j
                        }
                        if nb.count > ps { np.append(ps..<nb.count); ns.append(starts[k] && ps == a) }
                    } else {
                        np.append(a..<nb.count); ns.append(starts[k])
                    }
                }
                buf = nb; pieces = np; starts = ns
            }
        }
        for r in pieces where !r.isEmpty { encodeWord(buf, r, into: &ids) }
    }

    private func encodeWord(_ buf: [UInt32], _ r: Range<Int>, into ids: inout [Int32]) {
        let cacheable = r.count <= 64
        var key: [UInt32] = []
        if cacheable {
            key = Array(buf[r])
            lock.lock()
            let hit = cache[key]
            lock.unlock()
            if let hit { ids.append(contentsOf: hit); return }
        }
        var symbols: [Int32] = []
        var unk: Int32? = nil
        if isByteLevel {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(r.count * 2)
            for v in buf[r] { appendUTF8(v, &bytes) }
            if ignoreMerges {
                var word = ""
                word.unicodeScalars.append(
                    contentsOf: bytes.map { Unicode.Scalar(ByteLevelMap.byteToScalar[Int($0)])! })
                if let id = vocab[word] { symbols = [id]; return finish(symbols, key, cacheable, &ids) }
            }
            for b in bytes {
                if let id = byteIds[Int(b)] {
                    flushUnk(&unk, &symbols); symbols.append(id)
                } else {
                    addUnk(1, &unk, &symbols)
                }
            }
        } else {
            if ignoreMerges {
                var word = ""
                word.unicodeScalars.append(contentsOf: buf[r].compactMap(Unicode.Scalar.init))
                if let id = vocab[word] { return finish([id], key, cacheable, &ids) }
            }
            for v in buf[r] {
                if let id = singleScalarIds[v] { flushUnk(&unk, &symbols); symbols.append(id); continue }
                if byteFallback {
                    var bytes: [UInt8] = []
                    appendUTF8(v, &bytes)
                    let f = bytes.map { byteFallbackIds[Int($0)] }
                    if f.allSatisfy({ $0 != nil }) { symbols.append(contentsOf: f.map { $0! }); continue }
                }
                addUnk(1, &unk, &symbols)
            }
        }
        flushUnk(&unk, &symbols)
        finish(applyMerges(symbols), key, cacheable, &ids)
    }

    private func finish(_ symbols: [Int32], _ key: [UInt32], _ cacheable: Bool, _ ids: inout [Int32]) {
        ids.append(contentsOf: symbols)
        if cacheable {
            lock.lock()
            if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
            cache[key] = symbols
            lock.unlock()
        }
    }

    private func addUnk(_ n: Int, _ unk: inout Int32?, _ symbols: inout [Int32]) {
        guard let unkId else { return } // no unk token: the character is dropped, as in the reference
        if unk != nil && !fuseUnk { symbols.append(unkId) }
        unk = unkId
    }
    private func flushUnk(_ unk: inout Int32?, _ symbols: inout [Int32]) {
        if let u = unk { symbols.append(u); unk = nil }
    }

    /// Merges the lowest-ranked adjacent pair first (leftmost on ties) until no pair has a merge.
    func applyMerges(_ initial: [Int32]) -> [Int32] {
        let n = initial.count
        if n < 2 { return initial }
        var ids = initial
        var next = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Int32(i + 1) }; c = n
        }
        next[n - 1] = -1
        var prev = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Int32(i - 1) }; c = n
        }
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        @inline(__always) func pairKey(_ a: Int32, _ b: Int32) -> UInt64 {
            UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        }
        for i in 0..<(n - 1) {
            if let m = merges[pairKey(ids[i], ids[i + 1])] { heap.push(rank: m.rank, pos: Int32(i), id: m.id) }
        }
        while let top = heap.pop() {
            let i = Int(top.pos)
            guard alive[i], next[i] >= 0 else { continue }
            let j = Int(next[i])
            guard let m = merges[pairKey(ids[i], ids[j])], m.id == top.id else { continue }
            ids[i] = m.id
            alive[j] = false
            next[i] = next[j]
            if next[j] >= 0 { prev[Int(next[j])] = Int32(i) }
            if prev[i] >= 0, let m2 = merges[pairKey(ids[Int(prev[i])], ids[i])] {
                heap.push(rank: m2.rank, pos: prev[i], id: m2.id)
            }
            if next[i] >= 0, let m2 = merges[pairKey(ids[i], ids[Int(next[i])])] {
                heap.push(rank: m2.rank, pos: Int32(i), id: m2.id)
            }
        }
        var out: [Int32] = []
        var k: Int32 = 0
        while k >= 0 { out.append(ids[Int(k)]); k = next[Int(k)] }
        return out
    }

    // MARK: Decoding

    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = true) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let a = addedById[id] {
                if skipSpecialTokens && a.special { continue }
                tokens.append(a.content)
            } else if let t = idToToken[id] {
                tokens.append(t)
            }
        }
        if decoders.isEmpty { return tokens.joined(separator: " ") }
        for d in decoders {
            switch d {
            case .byteLevel:
                var bytes: [UInt8] = []
                for t in tokens {
                    var tb: [UInt8] = []
                    var ok = true
                    for s in t.unicodeScalars {
                        if let b = ByteLevelMap.scalarToByte[s.value] { tb.append(b) } else { ok = false; break }
                    }
                    if ok { bytes += tb } else { bytes += Array(t.utf8) }
                }
                tokens = [String(decoding: bytes, as: UTF8.self)]
            case let .replace(a, b):
                tokens = tokens.map { $0.replacingOccurrences(of: a, with: b) }
            case .byteFallback:
                var out: [String] = []
                var pending: [UInt8] = []
                func flush() {
                    guard !pending.isEmpty else { return }
                    if let s = String(validating: pending, as: UTF8.self) {
                        out.append(s)
                    } else {
                        out.append(contentsOf: pending.map { _ in "\u{FFFD}" })
                    }
                    pending.removeAll()
                }
                for t in tokens {
                    if let b = Self.fallbackByte(t) { pending.append(b) } else { flush(); out.append(t) }
                }
                flush()
                tokens = out
            case .fuse:
                tokens = [tokens.joined()]
            case let .strip(c, start, stop):
                tokens = tokens.map { t in
                    var s = Substring(t)
                    var k = 0
                    while k < start, s.first == c { s = s.dropFirst(); k += 1 }
                    k = 0
                    while k < stop, s.last == c { s = s.dropLast(); k += 1 }
                    return String(s)
                }
            case let .metaspace(rep, scheme):
                tokens = tokens.enumerated().map { (i, t) in
                    var s = ""
                    for ch in t {
                        if ch == rep {
                            if i == 0 && scheme != .never { continue }
                            s.append(" ")
                        } else {
                            s.append(ch)
                        }
                    }
                    return s
                }
            }
        }
        return tokens.joined()
    }

    static func fallbackByte(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}

@inline(__always) func appendUTF8(_ v: UInt32, _ out: inout [UInt8]) {
    switch v {
    case 0..<0x80: out.append(UInt8(v))
    case 0x80..<0x800: out.append(UInt8(0xC0 | (v >> 6))); out.append(UInt8(0x80 | (v & 0x3F)))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | (v >> 12))); out.append(UInt8(0x80 | ((v >> 6) & 0x3F)));
        out.append(UInt8(0x80 | (v & 0x3F)))
    default:
        out.append(UInt8(0xF0 | (v >> 18))); out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((v >> 6) & 0x3F))); out.append(UInt8(0x80 | (v & 0x3F)))
    }
}

/// GPT-2's reversible byte <-> printable-character map: printable Latin-1 bytes map to themselves, the other
/// 68 bytes to U+0100 onwards in byte order.
enum ByteLevelMap {
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = 256 + n; n += 1
            }
        }
        return table
    }()
    static let scalarToByte: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { m[s] = UInt8(b) }
        return m
    }()
}

/// Binary min-heap ordered by (rank, position).
struct MergeHeap {
    private var items: [(rank: Int32, pos: Int32, id: Int32)] = []
    @inline(__always) private func less(_ a: Int, _ b: Int) -> Bool {
        items[a].rank != items[b].rank ? items[a].rank < items[b].rank : items[a].pos < items[b].pos
    }
    mutating func push(rank: Int32, pos: Int32, id: Int32) {
        items.append((rank, pos, id))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if less(i, p) { items.swapAt(i, p); i = p } else { break }
        }
    }
    mutating func pop() -> (rank: Int32, pos: Int32, id: Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, less(l, m) { m = l }
                if r < items.count, less(r, m) { m = r }
                if m == i { break }
                items.swapAt(i, m); i = m
            }
        }
        return top
    }
}
