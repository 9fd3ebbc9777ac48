// BlobChunker / BlobAssembler: serve a weights blob as WeightsChunk messages and rebuild it on the
// other side, checking version, chunk layout, total size and SHA-256 of the whole blob.
// Not here: what the blob contains (the learner decides, e.g. a safetensors file) or how chunks are
// requested and retried (Cluster sends FetchWeights and decides on timeouts).
import Foundation

/// Learner side: one immutable blob for one policy version, cut into chunks of `chunkBytes`.
public struct BlobChunker {
    /// 4 MiB: large enough to keep per-message overhead negligible, far below WireCodec's default limit.
    public static let defaultChunkBytes = 4 << 20

    public let version: UInt64
    public let blob: Data
    public let chunkBytes: Int
    /// Lowercase hex SHA-256 of the whole blob.
    public let sha256: String

    public init(version: UInt64, blob: Data, chunkBytes: Int = BlobChunker.defaultChunkBytes) throws {
        guard chunkBytes > 0 else { throw BlobError.invalidChunkSize(chunkBytes) }
        self.version = version
        self.blob = blob
        self.chunkBytes = chunkBytes
        self.sha256 = SHA256Hasher.hex(blob)
    }

    public var totalBytes: UInt64 { UInt64(blob.count) }

    /// An empty blob is still one (empty) chunk, so "fetch chunk 0" always has an answer.
    public var chunkCount: UInt64 { UInt64(max(1, (blob.count + chunkBytes - 1) / chunkBytes)) }

    /// The small broadcast that tells actors this version exists.
    public var notice: Wire.VersionNotice {
        var n = Wire.VersionNotice()
        n.version = version
        n.sizeBytes = totalBytes
        n.sha256 = sha256
        n.chunkBytes = UInt64(chunkBytes)
        return n
    }

    public func chunk(_ index: UInt64) throws -> Wire.WeightsChunk {
        guard index < chunkCount else { throw BlobError.chunkIndexOutOfRange(index: index, count: chunkCount) }
        let start = blob.startIndex + Int(index) * chunkBytes
        let end = min(start + chunkBytes, blob.endIndex)
        var c = Wire.WeightsChunk()
        c.version = version
        c.chunkIndex = index
        c.chunkCount = chunkCount
        c.totalBytes = totalBytes
        c.sha256 = sha256
        c.data = blob.subdata(in: start..<end)
        return c
    }

    /// Answers a FetchWeights request; a request for another version is an error the caller reports.
    public func answer(_ request: Wire.FetchWeights) throws -> Wire.WeightsChunk {
        guard request.version == version else { throw BlobError.wrongVersion(expected: version, got: request.version) }
        return try chunk(request.chunkIndex)
    }
}

/// Actor side: collects WeightsChunk messages of one version in any order and hashes them as they arrive: the
/// SHA-256 advances over the contiguous prefix of chunks whenever it grows, so with chunks arriving in order the
/// digest is ready the moment the last one lands, and checking it costs nothing more. Chunks are kept as they came
/// (slices of the received frames, which a relay keeps anyway) and copied once, into the blob, by `assemble`.
public struct BlobAssembler {
    /// Sanity bound on chunk_count from the wire (16 Mi chunks: 64 TiB at the default chunk size), so a
    /// hostile or corrupt chunk cannot make `missingChunks` enumerate billions of indices.
    public static let maxChunkCount: UInt64 = 1 << 24
    /// Largest blob believed when the caller names no bound (8 GiB: a 2B-parameter model in fp32).
    public static let defaultMaxTotalBytes: UInt64 = 1 << 33

    public let version: UInt64
    /// Learned from the notice or the first chunk; every later chunk must agree.
    public private(set) var chunkCount: UInt64?
    public private(set) var totalBytes: UInt64?
    public private(set) var sha256: String?
    public let maxTotalBytes: UInt64
    /// Bytes of every chunk but the last (the wire contract: "all chunks but the last have the same size").
    private var chunkBytes: Int?
    private var chunks: [Data?] = []
    private var receivedCount = 0
    private var hasher = SHA256Hasher()
    /// Chunks 0..<hashedChunks have gone through the hasher.
    private var hashedChunks = 0
    /// Lowercase hex digest of the whole blob, once every chunk has been hashed.
    public private(set) var digest: String?

    public init(
        version: UInt64, expectedTotalBytes: UInt64? = nil, expectedSha256: String? = nil,
        maxTotalBytes: UInt64 = BlobAssembler.defaultMaxTotalBytes
    ) {
        self.version = version
        self.totalBytes = expectedTotalBytes
        self.sha256 = expectedSha256?.lowercased()
        self.maxTotalBytes = maxTotalBytes
    }

    public init(notice: Wire.VersionNotice, maxTotalBytes: UInt64 = BlobAssembler.defaultMaxTotalBytes) {
        self.init(
            version: notice.version, expectedTotalBytes: notice.sizeBytes, expectedSha256: notice.sha256,
            maxTotalBytes: maxTotalBytes)
    }

    /// Adds one chunk. A repeated chunk with identical bytes is accepted (retries happen).
    /// - Throws: BlobError if the chunk belongs to another version or contradicts what is known.
    public mutating func add(_ chunk: Wire.WeightsChunk) throws {
        guard chunk.version == version else { throw BlobError.wrongVersion(expected: version, got: chunk.version) }
        let i = chunk.chunkIndex
        guard chunk.chunkCount > 0 else { throw BlobError.inconsistentChunk(index: i, detail: "chunk_count is 0") }
        guard i < chunk.chunkCount else { throw BlobError.chunkIndexOutOfRange(index: i, count: chunk.chunkCount) }
        // Every chunk but an empty blob's single one holds at least one byte.
        guard chunk.chunkCount <= Self.maxChunkCount, chunk.chunkCount <= max(1, chunk.totalBytes) else {
            throw BlobError.inconsistentChunk(
                index: i, detail: "chunk_count \(chunk.chunkCount) is implausible for \(chunk.totalBytes) bytes")
        }
        guard chunk.totalBytes <= maxTotalBytes else {
            throw BlobError.inconsistentChunk(
                index: i,
                detail: "total_bytes \(chunk.totalBytes) is over the \(maxTotalBytes) this receiver expects at most")
        }
        if let n = chunkCount, n != chunk.chunkCount {
            throw BlobError.inconsistentChunk(index: i, detail: "chunk_count \(chunk.chunkCount), earlier \(n)")
        }
        if let t = totalBytes, t != chunk.totalBytes {
            throw BlobError.inconsistentChunk(index: i, detail: "total_bytes \(chunk.totalBytes), expected \(t)")
        }
        if let s = sha256, s != chunk.sha256.lowercased() {
            throw BlobError.inconsistentChunk(index: i, detail: "sha256 \(chunk.sha256), expected \(s)")
        }
        let size = chunk.data.count, total = Int(chunk.totalBytes), count = Int(chunk.chunkCount), index = Int(i)
        guard size <= total else {
            throw BlobError.inconsistentChunk(index: i, detail: "\(size) bytes in a blob of \(total)")
        }
        // The size all non-final chunks share: this chunk's own, or what a final chunk implies for the others.
        let implied: Int
        if index < count - 1 {
            implied = size
        } else if count == 1 {
            implied = total
        } else {
            guard (total - size) % (count - 1) == 0 else {
                throw BlobError.inconsistentChunk(
                    index: i,
                    detail: "a last chunk of \(size) bytes leaves \(total - size) bytes for \(count - 1) equal chunks")
            }
            implied = (total - size) / (count - 1)
        }
        let cb = chunkBytes ?? implied
        guard cb == implied, cb > 0 || total == 0, (count - 1) * cb < max(total, 1), count * cb >= total,
            size == min(cb, total - index * cb)
        else {
            throw BlobError.inconsistentChunk(
                index: i, detail: "\(size) bytes do not fit \(count) chunks of one size making \(total) bytes")
        }
        if chunkBytes == nil {
            chunkCount = chunk.chunkCount; totalBytes = chunk.totalBytes; sha256 = chunk.sha256.lowercased();
            chunkBytes = cb
            chunks = Array(repeating: nil, count: count)
        }
        if let old = chunks[index] {
            guard old == chunk.data else {
                throw BlobError.inconsistentChunk(index: i, detail: "received twice with different bytes")
            }
            return
        }
        chunks[index] = chunk.data
        receivedCount += 1
        while digest == nil, hashedChunks < chunks.count, let next = chunks[hashedChunks] {
            hasher.update(next)
            hashedChunks += 1
            if hashedChunks == chunks.count { digest = SHA256Hasher.hexString(hasher.finalize()) }
        }
    }

    /// Chunk indices still to fetch; [0] until the first chunk tells how many there are.
    public var missingChunks: [UInt64] {
        guard chunkCount != nil else { return [0] }
        return chunks.indices.filter { chunks[$0] == nil }.map { UInt64($0) }
    }

    public var isComplete: Bool { chunkCount != nil && receivedCount == chunks.count }

    /// Checks the SHA-256 computed as the chunks arrived against the one announced.
    /// - Throws: BlobError.missingChunks or .checksumMismatch.
    public func verify() throws {
        guard isComplete, let actual = digest else { throw BlobError.missingChunks(missingChunks) }
        if let s = sha256, s != actual { throw BlobError.checksumMismatch(expected: s, actual: actual) }
    }

    /// The verified blob as the chunks that make it, in order, without copying (a model loads them piece by piece).
    /// - Throws: BlobError.missingChunks or .checksumMismatch.
    public func verifiedChunks() throws -> [Data] {
        try verify()
        return chunks.compactMap { $0 }
    }

    /// The verified blob, in one piece (a copy: hundreds of megabytes belong on a worker thread, not on one that
    /// must keep heartbeating).
    /// - Throws: BlobError.missingChunks or .checksumMismatch.
    public func assemble() throws -> Data {
        try verify()
        var blob = Data()
        blob.reserveCapacity(Int(totalBytes ?? 0))
        for case let c? in chunks { blob.append(c) }
        return blob
    }
}
