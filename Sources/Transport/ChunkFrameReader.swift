// ChunkFrameReader: a zero-copy reading of the one large message on the wire, an Envelope holding a WeightsChunk.
// swift-protobuf copies every `bytes` field into a fresh Data: for a 4 MiB chunk that is a copy plus a thousand
// newly faulted pages, per chunk, per receiver, on the path whose speed is compared with a raw ZeroMQ transfer.
// This reader accepts exactly the canonical shape WireCodec.encode produces (envelope fields 1, 2, 17; chunk
// fields 1-6; each at most once, with their declared wire types, minimal tags) and returns `data` as a slice of
// the frame. Anything else returns nil and goes through swift-protobuf, which stays the reference: the tests
// compare both readers on valid frames and on every single-byte mutation of them.
import Foundation

enum ChunkFrameReader {
    static let envelopeChunkField: UInt64 = 17

    /// The envelope, or nil when the frame is not the canonical shape (then swift-protobuf decides).
    static func read(_ frame: Data) -> Envelope? {
        frame.withUnsafeBytes { raw -> Envelope? in
            var r = Reader(bytes: raw)
            var envelope = Envelope()
            var seen: Set<UInt64> = []
            var chunkRange: Range<Int>?
            while !r.atEnd {
                guard let (field, wire) = r.tag(), seen.insert(field).inserted else { return nil }
                switch (field, wire) {
                case (1, 0):
                    guard let v = r.varint(), v <= UInt64(UInt32.max) else { return nil }
                    envelope.protocolVersion = UInt32(v)
                case (2, 0):
                    guard let v = r.varint() else { return nil }
                    envelope.sequence = v
                case (envelopeChunkField, 2):
                    guard let range = r.lengthDelimited() else { return nil }
                    chunkRange = range
                default:
                    return nil
                }
            }
            guard let chunkRange, let (read, dataRange) = readChunk(UnsafeRawBufferPointer(rebasing: raw[chunkRange]))
            else { return nil }
            var chunk = read
            // `data` as a slice of the frame: Data slices share the frame's storage.
            let base = frame.startIndex + chunkRange.lowerBound
            chunk.data = frame[(base + dataRange.lowerBound)..<(base + dataRange.upperBound)]
            envelope.body = .weightsChunk(chunk)
            return envelope
        }
    }

    /// The chunk's fields but `data`, and where `data` lies within `bytes`.
    private static func readChunk(_ bytes: UnsafeRawBufferPointer) -> (Wire.WeightsChunk, Range<Int>)? {
        var r = Reader(bytes: bytes)
        var c = Wire.WeightsChunk()
        var seen: Set<UInt64> = []
        var dataRange = 0..<0
        while !r.atEnd {
            guard let (field, wire) = r.tag(), seen.insert(field).inserted else { return nil }
            switch (field, wire) {
            case (1, 0): guard let v = r.varint() else { return nil }; c.version = v
            case (2, 0): guard let v = r.varint() else { return nil }; c.chunkIndex = v
            case (3, 0): guard let v = r.varint() else { return nil }; c.chunkCount = v
            case (4, 0): guard let v = r.varint() else { return nil }; c.totalBytes = v
            case (5, 2):
                // Only printable ASCII (a hex digest): anything else is left to swift-protobuf's UTF-8 rules.
                guard let range = r.lengthDelimited(), bytes[range].allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                    return nil
                }
                c.sha256 = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
            case (6, 2):
                guard let range = r.lengthDelimited() else { return nil }
                dataRange = range
            default:
                return nil
            }
        }
        return (c, dataRange)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var at = 0
        var atEnd: Bool { at >= bytes.count }

        /// A base-128 varint of at most 10 bytes that fits 64 bits; nil when truncated or overlong.
        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 7) {
                guard at < bytes.count else { return nil }
                let b = bytes[at]; at += 1
                if shift == 63 && b > 1 { return nil }
                value |= UInt64(b & 0x7F) << UInt64(shift)
                if b & 0x80 == 0 { return value }
            }
            return nil
        }

        /// (field number, wire type); a tag must be minimal and name a field > 0.
        mutating func tag() -> (UInt64, UInt8)? {
            let start = at
            guard let t = varint(), t >> 3 > 0, t >> 3 <= 0x1FFF_FFFF else { return nil }
            var minimal = 1, v = t >> 7
            while v > 0 { minimal += 1; v >>= 7 }
            guard at - start == minimal else { return nil }
            return (t >> 3, UInt8(t & 7))
        }

        mutating func lengthDelimited() -> Range<Int>? {
            guard let n = varint(), n <= UInt64(bytes.count - at) else { return nil }
            let range = at..<(at + Int(n))
            at += Int(n)
            return range
        }
    }
}
