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

/// Actor side: collects WeightsChunk messages of one version in any order and yields the verified blob.
public struct BlobAssembler {
    /// Sanity bound on chunk_count from the wire (16 Mi chunks: 64 TiB at the default chunk size), so a
    /// hostile or corrupt chunk cannot make `missingChunks` enumerate billions of indices.
    public static let maxChunkCount: UInt64 = 1 << 24

    public let version: UInt64
    /// Learned from the notice or the first chunk; every later chunk must agree.
    public private(set) var chunkCount: UInt64?
    public private(set) var totalBytes: UInt64?
    public private(set) var sha256: String?
    private var chunks: [UInt64: Data] = [:]

    public init(version: UInt64, expectedTotalBytes: UInt64? = nil, expectedSha256: String? = nil) {
        self.version = version
        self.totalBytes = expectedTotalBytes
        self.sha256 = expectedSha256?.lowercased()
    }

    public init(notice: Wire.VersionNotice) {
        self.init(version: notice.version, expectedTotalBytes: notice.sizeBytes, expectedSha256: notice.sha256)
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
            throw BlobError.inconsistentChunk(index: i, detail: "chunk_count \(chunk.chunkCount) is implausible for \(chunk.totalBytes) bytes")
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
        guard UInt64(chunk.data.count) <= chunk.totalBytes else {
            throw BlobError.inconsistentChunk(index: i, detail: "\(chunk.data.count) bytes in a blob of \(chunk.totalBytes)")
        }
        if let old = chunks[i], old != chunk.data {
            throw BlobError.inconsistentChunk(index: i, detail: "received twice with different bytes")
        }
        chunkCount = chunk.chunkCount
        totalBytes = chunk.totalBytes
        sha256 = chunk.sha256.lowercased()
        chunks[i] = chunk.data
    }

    /// Chunk indices still to fetch; [0] until the first chunk tells how many there are.
    public var missingChunks: [UInt64] {
        guard let n = chunkCount else { return [0] }
        return (0..<n).filter { chunks[$0] == nil }
    }

    public var isComplete: Bool { chunkCount != nil && chunks.count == Int(chunkCount!) }

    /// Concatenates the chunks and verifies size and SHA-256.
    /// - Throws: BlobError.missingChunks, .totalBytesMismatch or .checksumMismatch.
    public func assemble() throws -> Data {
        let blob = try concatenate()
        try verify(blob)
        return blob
    }

    /// The SHA-256 check of `assemble`, separately: hashing hundreds of megabytes belongs on a worker thread,
    /// not on a thread that must keep heartbeating.
    public func verify(_ blob: Data) throws {
        let actual = SHA256Hasher.hex(blob)
        if let s = sha256, s != actual { throw BlobError.checksumMismatch(expected: s, actual: actual) }
    }

    /// Concatenates the chunks and checks the size; the caller must `verify` the result before trusting it.
    public func concatenate() throws -> Data {
        let missing = missingChunks
        guard missing.isEmpty, let n = chunkCount else { throw BlobError.missingChunks(missing) }
        var blob = Data()
        blob.reserveCapacity(chunks.values.reduce(0) { $0 + $1.count })  // what arrived, not what was claimed
        for i in 0..<n { blob.append(chunks[i]!) }
        if let t = totalBytes, t != UInt64(blob.count) {
            throw BlobError.totalBytesMismatch(expected: t, actual: UInt64(blob.count))
        }
        return blob
    }
}
