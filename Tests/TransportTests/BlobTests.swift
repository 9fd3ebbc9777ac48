// SHA-256 against known vectors, and BlobChunker/BlobAssembler: split, reassemble in any order,
// and every way a reassembly can go wrong.
import Foundation
import XCTest
import TensorMath
@testable import Transport

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256Hasher.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(
            SHA256Hasher.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(
            SHA256Hasher.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(
            SHA256Hasher.hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testPaddingBoundaries() {
        // Values from Python's hashlib.sha256(b"x" * n).hexdigest(): lengths around the 56/64-byte padding edges.
        let expected: [Int: String] = [
            55: "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072",
            56: "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e",
            63: "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2",
            64: "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c",
            65: "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"
        ]
        for (n, hex) in expected {
            XCTAssertEqual(SHA256Hasher.hex(Data(repeating: UInt8(ascii: "x"), count: n)), hex, "length \(n)")
        }
    }

    func testStreamingInOddPiecesMatchesPython() {
        // Python: hashlib.sha256(bytes((i*7+3) % 256 for i in range(1000))).hexdigest()
        let data = Data((0..<1000).map { UInt8(($0 * 7 + 3) % 256) })
        let python = "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"
        XCTAssertEqual(SHA256Hasher.hex(data), python)
        for piece in [1, 3, 63, 64, 65, 127, 999] {
            var hasher = SHA256Hasher()
            var offset = 0
            while offset < data.count {
                let end = min(offset + piece, data.count)
                hasher.update(data[offset..<end])
                offset = end
            }
            XCTAssertEqual(hasher.finalize().map { String(format: "%02x", $0) }.joined(), python, "piece \(piece)")
        }
    }
}

extension SHA256Tests {
    /// swift-crypto (production) against the former hand-written implementation, on random data of lengths around
    /// the block and padding edges, whole and streamed in odd pieces.
    func testSwiftCryptoMatchesReferenceImplementation() {
        var rng = SplitMix64(seed: 5)
        for n in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4097, 100_003] {
            let data = randomBytes(n, &rng)
            let reference = ReferenceSHA256.hash(data)
            XCTAssertEqual(SHA256Hasher.hash(data), reference, "length \(n)")
            var streamed = SHA256Hasher()
            var offset = 0
            while offset < n {
                let end = min(offset + 37, n)
                data[offset..<end].withUnsafeBytes { streamed.update(bytes: $0) }
                offset = end
            }
            XCTAssertEqual(streamed.finalize(), reference, "streamed, length \(n)")
        }
    }
}

final class BlobTests: XCTestCase {
    func makeBlob(_ n: Int, seed: UInt64 = 11) -> Data {
        var rng = SplitMix64(seed: seed)
        return randomBytes(n, &rng)
    }

    func testChunkLayoutAndNotice() throws {
        let blob = makeBlob(10_000)
        let c = try BlobChunker(version: 4, blob: blob, chunkBytes: 1024)
        XCTAssertEqual(c.chunkCount, 10)
        XCTAssertEqual(c.totalBytes, 10_000)
        XCTAssertEqual(try c.chunk(0).data.count, 1024)
        XCTAssertEqual(try c.chunk(9).data.count, 10_000 - 9 * 1024)
        XCTAssertEqual(c.notice.version, 4)
        XCTAssertEqual(c.notice.sizeBytes, 10_000)
        XCTAssertEqual(c.notice.sha256, SHA256Hasher.hex(blob))
        XCTAssertThrowsError(try c.chunk(10)) { error in
            XCTAssertEqual(error as? BlobError, .chunkIndexOutOfRange(index: 10, count: 10))
        }
        XCTAssertThrowsError(try BlobChunker(version: 1, blob: blob, chunkBytes: 0))
        // Exact multiple: no empty trailing chunk.
        XCTAssertEqual(try BlobChunker(version: 1, blob: makeBlob(4096), chunkBytes: 1024).chunkCount, 4)
    }

    func testReassembleInAnyOrderWithDuplicates() throws {
        let blob = makeBlob(10_000)
        let c = try BlobChunker(version: 4, blob: blob, chunkBytes: 1024)
        var a = BlobAssembler(notice: c.notice)
        XCTAssertEqual(a.missingChunks, [0])
        var rng = SplitMix64(seed: 5)
        for i in (0..<c.chunkCount).shuffled(using: &rng) {
            try a.add(try c.chunk(i))
        }
        try a.add(try c.chunk(3)) // a retried chunk
        XCTAssertTrue(a.isComplete)
        XCTAssertEqual(try a.assemble(), blob)
    }

    /// The digest is computed as chunks arrive, over the contiguous prefix: in every arrival order and chunk
    /// layout it must equal the hand-written reference SHA-256 of the whole blob.
    func testDigestHashedOnArrivalMatchesReferenceInAnyOrder() throws {
        var rng = SplitMix64(seed: 11)
        for trial in 0..<40 {
            let total = Int(rng.next() % 20_000), chunkBytes = 1 + Int(rng.next() % 3000)
            let blob = makeBlob(total, seed: UInt64(trial))
            let c = try BlobChunker(version: 9, blob: blob, chunkBytes: chunkBytes)
            var a = trial % 2 == 0 ? BlobAssembler(notice: c.notice) : BlobAssembler(version: 9)
            for i in (0..<c.chunkCount).shuffled(using: &rng) {
                XCTAssertNil(a.digest, "digest before the last chunk")
                try a.add(try c.chunk(i))
            }
            XCTAssertEqual(
                a.digest, SHA256Hasher.hexString(ReferenceSHA256.hash(blob)), "total \(total), chunks of \(chunkBytes)")
            XCTAssertEqual(try a.assemble(), blob)
        }
    }

    func testSliceBlobAndEmptyBlob() throws {
        let big = makeBlob(5000)
        let slice = big[1000..<3500] // Data slice with a non-zero startIndex
        let c = try BlobChunker(version: 1, blob: slice, chunkBytes: 1000)
        var a = BlobAssembler(version: 1)
        for i in 0..<c.chunkCount { try a.add(try c.chunk(i)) }
        XCTAssertEqual(try a.assemble(), Data(slice))

        let e = try BlobChunker(version: 2, blob: Data(), chunkBytes: 1000)
        XCTAssertEqual(e.chunkCount, 1)
        var ea = BlobAssembler(notice: e.notice)
        try ea.add(try e.chunk(0))
        XCTAssertEqual(try ea.assemble(), Data())
    }

    func testMissingChunk() throws {
        let c = try BlobChunker(version: 4, blob: makeBlob(5000), chunkBytes: 1000)
        var a = BlobAssembler(version: 4)
        for i in [0, 1, 3] as [UInt64] { try a.add(try c.chunk(i)) }
        XCTAssertFalse(a.isComplete)
        XCTAssertEqual(a.missingChunks, [2, 4])
        XCTAssertThrowsError(try a.assemble()) { error in
            XCTAssertEqual(error as? BlobError, .missingChunks([2, 4]))
            XCTAssertTrue("\(error)".contains("2 chunk(s) missing (2, 4)"), "\(error)")
        }
        XCTAssertThrowsError(try BlobAssembler(version: 4).assemble())
    }

    func testChecksumMismatch() throws {
        let c = try BlobChunker(version: 4, blob: makeBlob(5000), chunkBytes: 1000)
        var a = BlobAssembler(version: 4)
        for i in 0..<c.chunkCount {
            var chunk = try c.chunk(i)
            if i == 2 { chunk.data[chunk.data.startIndex + 17] ^= 0x01 } // one flipped bit in transit
            try a.add(chunk)
        }
        XCTAssertThrowsError(try a.assemble()) { error in
            guard case let .checksumMismatch(expected, actual) = error as? BlobError else { return XCTFail("\(error)") }
            XCTAssertEqual(expected, c.sha256)
            XCTAssertNotEqual(actual, c.sha256)
        }
    }

    func testWrongTotal() throws {
        let c = try BlobChunker(version: 4, blob: makeBlob(5000), chunkBytes: 1000)
        var a = BlobAssembler(version: 4)
        for i in 0..<4 as Range<UInt64> { try a.add(try c.chunk(i)) }
        var short = try c.chunk(4)
        short.data = short.data.prefix(999) // a short last chunk: refused on arrival, its place stays empty
        XCTAssertThrowsError(try a.add(short)) { error in
            guard case .inconsistentChunk(4, let detail) = error as? BlobError else { return XCTFail("\(error)") }
            XCTAssertTrue(detail.contains("999"), detail)
        }
        XCTAssertEqual(a.missingChunks, [4])
        // A last chunk arriving first fixes the chunk size for the others ((5000 - 1000) / 4 = 1000).
        var b = BlobAssembler(version: 4)
        try b.add(try c.chunk(4))
        var long = try c.chunk(0)
        long.data.append(0)
        XCTAssertThrowsError(try b.add(long))
        // A bound on what the receiver believes: the buffer is allocated whole.
        var bounded = BlobAssembler(version: 4, maxTotalBytes: 4999)
        XCTAssertThrowsError(try bounded.add(try c.chunk(0))) { error in
            XCTAssertTrue("\(error)".contains("4999"), "\(error)")
        }
    }

    func testInconsistentOrForeignChunks() throws {
        let c = try BlobChunker(version: 4, blob: makeBlob(5000), chunkBytes: 1000)
        let other = try BlobChunker(version: 4, blob: makeBlob(5000, seed: 99), chunkBytes: 1000)
        var a = BlobAssembler(notice: c.notice)
        try a.add(try c.chunk(0))

        XCTAssertThrowsError(try a.add(try BlobChunker(version: 5, blob: makeBlob(10), chunkBytes: 4).chunk(0))) {
            error in
            XCTAssertEqual(error as? BlobError, .wrongVersion(expected: 4, got: 5))
        }
        XCTAssertThrowsError(try a.add(try other.chunk(1))) { error in // same version, different blob
            guard case .inconsistentChunk(1, _) = error as? BlobError else { return XCTFail("\(error)") }
        }
        var resized = try c.chunk(1)
        resized.chunkCount = 6
        XCTAssertThrowsError(try a.add(resized))
        var changed = try c.chunk(0)
        changed.data[changed.data.startIndex] ^= 0xFF
        XCTAssertThrowsError(try a.add(changed)) { error in
            XCTAssertTrue("\(error)".contains("received twice with different bytes"), "\(error)")
        }
        var outOfRange = try c.chunk(1)
        outOfRange.chunkIndex = 5
        XCTAssertThrowsError(try a.add(outOfRange)) { error in
            XCTAssertEqual(error as? BlobError, .chunkIndexOutOfRange(index: 5, count: 5))
        }
        var hostile = try c.chunk(1)
        hostile.chunkCount = 1 << 40
        hostile.totalBytes = 1 << 50
        var fresh = BlobAssembler(version: 4)
        XCTAssertThrowsError(try fresh.add(hostile)) // would enumerate 2^40 indices
        XCTAssertEqual(a.missingChunks, [1, 2, 3, 4]) // nothing bad was kept
    }

    func testChunkerAnswersFetchRequests() throws {
        let c = try BlobChunker(version: 4, blob: makeBlob(3000), chunkBytes: 1000)
        var fetch = Wire.FetchWeights()
        fetch.version = 4
        fetch.chunkIndex = 2
        XCTAssertEqual(try c.answer(fetch), try c.chunk(2))
        fetch.version = 3
        XCTAssertThrowsError(try c.answer(fetch)) { error in
            XCTAssertEqual(error as? BlobError, .wrongVersion(expected: 4, got: 3))
        }
    }
}
