// TensorBoard scalars without TensorFlow: a tfevents file is a sequence of TFRecords, each
//   uint64 length (little-endian) | uint32 masked CRC32C of those 8 bytes | payload | uint32 masked CRC32C of payload
// whose payloads are serialized `Event` protos (proto/tensorboard/event_subset.proto, generated Swift in
// Generated/). The first record carries file_version "brain.Event:2"; each later one a Summary of scalar values.
// The masked CRC is TFRecord's: rotate right by 15 and add 0xa282ead8. Each record is one unbuffered write, so
// TensorBoard sees a run live.
import Foundation
import SwiftProtobuf

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven. Check value: "123456789" -> 0xE3069283.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
    /// TFRecord's masking, so a CRC stored inside CRC'd data does not produce trivial checksums.
    public static func masked<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}

public final class TensorBoardWriter {
    public let url: URL
    private let handle: FileHandle

    /// Creates `directory/events.out.tfevents.<unix time>.<host>.<pid>` and writes the file-version record.
    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        url = directory.appendingPathComponent(
            "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(getpid())")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw MonitoringError("cannot create \(url.path); HINT: is the run directory writable?")
        }
        handle = try FileHandle(forWritingTo: url)
        var e = Tensorboard_Event()
        e.wallTime = Date().timeIntervalSince1970
        e.fileVersion = "brain.Event:2"
        try write(e)
    }

    /// One Event with a scalar per (tag, value); non-finite values are written as they are (TensorBoard shows NaN).
    public func scalars(_ values: [(String, Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws
    {
        var e = Tensorboard_Event()
        e.wallTime = wallTime
        e.step = Int64(step)
        var s = Tensorboard_Summary()
        s.value = values.map { tag, v in
            var sv = Tensorboard_Summary.Value()
            sv.tag = tag; sv.simpleValue = Float(v)
            return sv
        }
        e.summary = s
        try write(e)
    }

    func write(_ e: Tensorboard_Event) throws {
        let payload: Data = try e.serializedData()
        try handle.write(contentsOf: Self.record(payload)) // unbuffered write(2): readers see each step at once
    }

    /// TFRecord framing of one payload.
    public static func record(_ payload: Data) -> Data {
        var out = Data()
        var length = UInt64(payload.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Data($0) }
        out += lengthBytes
        var lc = CRC32C.masked(lengthBytes).littleEndian
        out += withUnsafeBytes(of: &lc) { Data($0) }
        out += payload
        var pc = CRC32C.masked(payload).littleEndian
        out += withUnsafeBytes(of: &pc) { Data($0) }
        return out
    }

    public func close() { try? handle.close() }
}
