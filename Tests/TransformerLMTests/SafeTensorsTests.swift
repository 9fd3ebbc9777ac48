// SafeTensorsTests.swift — tests of the safetensors reader/writer against files written by Python
// (Fixtures/, made by scripts/reference/make_fixtures.py) and against hand-built bad files.
// Not here: model loading and numerical parity of the transformer (those are the model's tests).

import Foundation
import XCTest
import TransformerLM

final class SafeTensorsTests: XCTestCase {
    var tmpDir: URL!

    override func setUpWithError() throws {
        tmpDir = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmpDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tmpDir)
    }

    // MARK: helpers

    func fixture(_ relative: String) throws -> URL {
        let root = try XCTUnwrap(
            Bundle.module.url(forResource: "Fixtures", withExtension: nil),
            "Fixtures folder missing from the test bundle")
        return root.appendingPathComponent(relative)
    }

    /// Builds a safetensors file by hand from a header string and raw data, independent of the writer.
    func rawFile(_ name: String, header: String, data: [UInt8] = [], headerLength: UInt64? = nil) throws -> URL {
        let h = Array(header.utf8)
        var bytes: [UInt8] = []
        let n = headerLength ?? UInt64(h.count)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        bytes += h + data
        let url = tmpDir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func le16(_ values: [UInt16]) -> [UInt8] { values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }

    func expectError(
        _ kind: CheckpointError.Kind, _ url: URL, contains extra: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        do {
            _ = try SafeTensorsFile.read(url)
            XCTFail("expected \(kind) for \(url.lastPathComponent)", file: file, line: line)
        } catch let e as CheckpointError {
            XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
            let msg = "\(e)"
            XCTAssertTrue(
                msg.contains(url.lastPathComponent), "message lacks the file name: \(msg)", file: file, line: line)
            XCTAssertTrue(msg.contains("Hint:"), "message lacks a hint: \(msg)", file: file, line: line)
            if let extra {
                XCTAssertTrue(msg.contains(extra), "message lacks '\(extra)': \(msg)", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    // MARK: round trip

    func testRoundTripPreservesBitsOrderShapesAndMetadata() throws {
        let url = tmpDir.appendingPathComponent("rt.safetensors")
        let big = (0..<1000).map { Float($0) * 0.001 - 0.3 }
        let specials: [Float] = [
            0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0x1p-130
        ]
        let tensors: [(name: String, shape: [Int], values: [Float])] = [
            ("z.last.alphabetically", [2, 500], big),
            ("scalar", [], [3.5]),
            ("empty", [0, 3], []),
            ("specials", [8], specials),
            ("quote\"name", [1, 1, 1], [7])
        ]
        try SafeTensorsFile.write(url, tensors: tensors, metadata: ["format": "pt", "note": "hé \"x\""])
        let (read, meta) = try SafeTensorsFile.read(url)
        XCTAssertEqual(meta, ["format": "pt", "note": "hé \"x\""])
        XCTAssertEqual(read.count, tensors.count)
        for t in tensors {
            let r = try XCTUnwrap(read[t.name], t.name)
            XCTAssertEqual(r.shape, t.shape)
            XCTAssertEqual(r.sourceDType, "F32")
            XCTAssertEqual(r.values.map(\.bitPattern), t.values.map(\.bitPattern), t.name)
        }

        // Header padded to 8 bytes and tensors laid out in the given order.
        let bytes = [UInt8](try Data(contentsOf: url))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        XCTAssertEqual((8 + n) % 8, 0)
        XCTAssertEqual(bytes.count, 8 + n + 4 * (1000 + 1 + 0 + 8 + 1))
        let (infos, _) = try SafeTensorsFile.readHeader(url)
        XCTAssertEqual(infos.map(\.name), ["z.last.alphabetically", "scalar", "empty", "specials", "quote\"name"])

        // Overwrite in place; no temporary files left behind.
        try SafeTensorsFile.write(url, tensors: [("only", [1], [42])])
        let again = try SafeTensorsFile.read(url)
        XCTAssertEqual(Array(again.tensors.keys), ["only"])
        XCTAssertEqual(again.metadata, [:])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmpDir.path), ["rt.safetensors"])
    }

    func testWriteRejectsBadInput() throws {
        let url = tmpDir.appendingPathComponent("bad-write.safetensors")
        XCTAssertThrowsError(try SafeTensorsFile.write(url, tensors: [("a", [2, 3], [1, 2, 3])])) {
            XCTAssertEqual(($0 as? CheckpointError)?.kind, .sizeMismatch)
            XCTAssertTrue("\($0)".contains("bad-write.safetensors"))
        }
        XCTAssertThrowsError(try SafeTensorsFile.write(url, tensors: [("a", [1], [1]), ("a", [1], [2])])) {
            XCTAssertEqual(($0 as? CheckpointError)?.kind, .duplicateTensor)
        }
        let nowhere = tmpDir.appendingPathComponent("no/such/dir/x.safetensors")
        XCTAssertThrowsError(try SafeTensorsFile.write(nowhere, tensors: [("a", [1], [1])])) {
            XCTAssertEqual(($0 as? CheckpointError)?.kind, .writeFailed)
            XCTAssertTrue("\($0)".contains("x.safetensors"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    // MARK: Python-written fixtures

    func testReadsPythonFP32Checkpoint() throws {
        let (t, meta) = try SafeTensorsFile.read(try fixture("tiny_llama/model.safetensors"))
        XCTAssertEqual(meta["format"], "pt")
        XCTAssertEqual(t.count, 21) // 2 layers x 9 + embed + norm + lm_head
        XCTAssertEqual(t["model.embed_tokens.weight"]?.shape, [32, 32])
        XCTAssertEqual(t["lm_head.weight"]?.shape, [32, 32])
        XCTAssertEqual(t["model.layers.1.self_attn.k_proj.weight"]?.shape, [16, 32]) // 2 kv heads x head_dim 8
        XCTAssertEqual(t["model.layers.0.mlp.down_proj.weight"]?.shape, [32, 64])
        XCTAssertEqual(t["model.norm.weight"]?.shape, [32])
        XCTAssertTrue(t.values.allSatisfy { $0.sourceDType == "F32" && $0.values.count == $0.shape.reduce(1, *) })
        // Norm gains were initialised to 1 + 0.1 * noise, other weights to 0.2 * noise.
        let norm = try XCTUnwrap(t["model.norm.weight"]).values
        XCTAssertEqual(norm.reduce(0, +) / Float(norm.count), 1, accuracy: 0.1)

        let tied = try SafeTensorsFile.read(try fixture("tiny_llama_tied/model.safetensors")).tensors
        XCTAssertNil(tied["lm_head.weight"])
        XCTAssertEqual(tied["model.embed_tokens.weight"]?.values, t["model.embed_tokens.weight"]?.values)
    }

    /// Each tensor of the Python-written `dtype` copy of the fp32 fixture in `directory`, with its fp32 original;
    /// checks first that the copy has the same names and says `dtype`.
    func forEachRoundedTensor(
        _ directory: String, dtype: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: (_ name: String, _ tensor: SafeTensor, _ reference: SafeTensor) throws -> Void
    ) throws {
        let f32 = try SafeTensorsFile.read(try fixture("tiny_llama/model.safetensors")).tensors
        let copy = try SafeTensorsFile.read(try fixture("\(directory)/model.safetensors")).tensors
        XCTAssertEqual(Set(f32.keys), Set(copy.keys), file: file, line: line)
        for (name, t) in copy {
            XCTAssertEqual(t.sourceDType, dtype, file: file, line: line)
            try body(name, t, try XCTUnwrap(f32[name], file: file, line: line))
        }
    }

    func testBF16CheckpointIsRoundedFP32() throws {
        try forEachRoundedTensor("tiny_llama_bf16", dtype: "BF16") { name, t, ref in
            XCTAssertEqual(t.shape, ref.shape)
            for (x, y) in zip(ref.values, t.values) {
                // torch rounds to nearest even; compute that independently on the fp32 bits.
                let b = x.bitPattern
                let rounded = (b &+ 0x7FFF &+ ((b >> 16) & 1)) & 0xFFFF_0000
                XCTAssertEqual(y.bitPattern, rounded, "\(name): \(x) -> \(y)")
                XCTAssertLessThanOrEqual(abs(y - x), abs(x) * 0x1p-8, name)
            }
        }
    }

    func testFP16CheckpointIsRoundedFP32() throws {
        try forEachRoundedTensor("tiny_llama_fp16", dtype: "F16") { name, t, ref in
            for (x, y) in zip(ref.values, t.values) {
                XCTAssertLessThanOrEqual(abs(y - x), max(abs(x) * 0x1p-11, 0x1p-25), name)
                #if !(os(macOS) && arch(x86_64))
                    XCTAssertEqual(y.bitPattern, Float(Float16(x)).bitPattern, "\(name): \(x)")
                #endif
            }
        }
    }

    func testParityFixtureIsReadable() throws {
        let (t, _) = try SafeTensorsFile.read(try fixture("parity.safetensors"))
        XCTAssertEqual(t["seq0.logits"]?.shape, [7, 32])
        XCTAssertEqual(t["seq0.vectors"]?.shape, [2, 32])
        XCTAssertEqual(t["seq1.grad_vectors"]?.shape, [0, 32]) // no vectors: an empty tensor
        XCTAssertEqual(t["seq1.grad_vectors"]?.values, [])
        XCTAssertEqual(t["grad.model.layers.1.mlp.up_proj.weight"]?.shape, [64, 32])
        for key in ["bf16.seq1.logits", "fp16.seq1.logits", "tied.seq1.logits"] {
            XCTAssertEqual(t[key]?.shape, [5, 32], key)
        }
        XCTAssertEqual(t.keys.filter { $0.hasPrefix("grad.") }.count, 21)
    }

    // MARK: conversions, every bit pattern

    /// Tensor `name` of a hand-built file `file` (with `header`) holding every 16-bit pattern in order, as read.
    func allBitPatterns(_ file: String, header: String, tensor name: String) throws -> [Float] {
        let all = (0...0xFFFF).map { UInt16($0) }
        let url = try rawFile(file, header: header, data: le16(all))
        return try XCTUnwrap(SafeTensorsFile.read(url).tensors[name]).values
    }

    func testFP16AllBitPatterns() throws {
        let v = try allBitPatterns(
            "all-f16.safetensors", header: #"{"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}}"#,
            tensor: "h")

        // Hand-computed table.
        let table: [(UInt16, Float)] = [
            (0x0000, 0), (0x3C00, 1), (0xC000, -2), (0x3800, 0.5), (0x3555, 0.333251953125),
            (0x7BFF, 65504), (0xFBFF, -65504), (0x0400, 0x1p-14), (0x0001, 0x1p-24), (0x8001, -0x1p-24),
            (0x03FF, 1023 * 0x1p-24), (0x0200, 0x1p-15), (0x7C00, .infinity), (0xFC00, -.infinity)
        ]
        for (bits, expect) in table {
            XCTAssertEqual(v[Int(bits)], expect, String(bits, radix: 16))
        }
        XCTAssertEqual(v[0x8000].bitPattern, (-0.0 as Float).bitPattern)
        for nan in [0x7E00, 0x7C01, 0xFE00, 0x7FFF] { XCTAssertTrue(v[nan].isNaN, String(nan, radix: 16)) }
        XCTAssertEqual(v[0xFE00].sign, .minus)

        #if !(os(macOS) && arch(x86_64))
            // Independent reference: Swift's own Float16 conversion.
            for i in 0...0xFFFF {
                let ref = Float(Float16(bitPattern: UInt16(i)))
                if ref.isNaN { XCTAssertTrue(v[i].isNaN); continue }
                XCTAssertEqual(v[i].bitPattern, ref.bitPattern, "0x\(String(i, radix: 16))")
            }
        #endif
    }

    func testBF16AllBitPatterns() throws {
        let v = try allBitPatterns(
            "all-bf16.safetensors", header: #"{"b":{"dtype":"BF16","shape":[256,256],"data_offsets":[0,131072]}}"#,
            tensor: "b")
        let table: [(Int, Float)] = [
            (0x0000, 0), (0x3F80, 1), (0xC000, -2), (0x4049, 3.140625), (0x7F7F, 0x1.FEp127),
            (0x0001, 0x1p-133), (0x0080, 0x1p-126), (0x7F80, .infinity), (0xFF80, -.infinity)
        ]
        for (bits, expect) in table { XCTAssertEqual(v[bits], expect, String(bits, radix: 16)) }
        XCTAssertTrue(v[0x7FC0].isNaN)
        XCTAssertEqual(v[0x8000].bitPattern, 0x8000_0000)
        // Every finite value: widening then rounding back is the identity.
        for i in 0...0xFFFF where !v[i].isNaN { XCTAssertEqual(v[i].bitPattern >> 16, UInt32(i)) }
    }

    // MARK: bad files

    func testMissingFile() {
        expectError(.missingFile, tmpDir.appendingPathComponent("nope.safetensors"))
        expectError(.missingFile, tmpDir) // a directory is not a file
    }

    func testFileShorterThanEightBytes() throws {
        let url = tmpDir.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3, 4, 5]).write(to: url)
        expectError(.truncatedHeader, url, contains: "5 bytes")
        let empty = tmpDir.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        expectError(.truncatedHeader, empty)
    }

    func testHeaderLengthBeyondFile() throws {
        expectError(
            .truncatedHeader, try rawFile("cut.safetensors", header: "{}", headerLength: 1000), contains: "1000")
        expectError(.corruptHeader, try rawFile("huge.safetensors", header: "{}", headerLength: 200 * 1024 * 1024))
        expectError(.corruptHeader, try rawFile("garbage.safetensors", header: "{}", headerLength: .max))
    }

    func testNonJSONHeader() throws {
        expectError(.corruptHeader, try rawFile("notjson.safetensors", header: "this is not json"))
        expectError(.corruptHeader, try rawFile("array.safetensors", header: "[1, 2, 3]"))
        expectError(
            .corruptHeader,
            try rawFile(
                "noshape.safetensors", header: #"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        expectError(.corruptHeader, try rawFile("badmeta.safetensors", header: #"{"__metadata__":{"k":1}}"#))
        expectError(
            .corruptHeader,
            try rawFile(
                "fracshape.safetensors", header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
                data: [0, 0, 0, 0]))
    }

    func testOffsetsPastTheEnd() throws {
        let url = try rawFile(
            "past.safetensors", header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
            data: [UInt8](repeating: 0, count: 12))
        expectError(.offsetsOutOfRange, url, contains: "'w'")
        expectError(
            .offsetsOutOfRange,
            try rawFile(
                "reversed.safetensors", header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#,
                data: [0, 0, 0, 0]))
    }

    func testOverlappingTensors() throws {
        let header =
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectError(
            .overlappingTensors,
            try rawFile("overlap.safetensors", header: header, data: [UInt8](repeating: 0, count: 12)))
    }

    func testUnsupportedDTypes() throws {
        expectError(
            .unsupportedDType,
            try rawFile(
                "i8.safetensors", header: #"{"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#, data: [1, 2, 3, 4]),
            contains: "I8")
        expectError(
            .unsupportedDType,
            try rawFile(
                "f64.safetensors", header: #"{"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#,
                data: [UInt8](repeating: 0, count: 8)), contains: "F64")
        expectError(
            .unsupportedDType,
            try rawFile(
                "weird.safetensors", header: #"{"d":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0]),
            contains: "Q4")
        // The header-only listing still shows such tensors.
        let (infos, _) = try SafeTensorsFile.readHeader(
            try rawFile(
                "i8b.safetensors", header: #"{"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#, data: [1, 2, 3, 4]
            ))
        XCTAssertEqual(infos.first?.dtype, "I8")
    }

    func testShapeTimesDTypeSizeMismatch() throws {
        // F16 x [3] is 6 bytes, offsets claim 8.
        let url = try rawFile(
            "mismatch.safetensors", header: #"{"m":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}"#,
            data: [UInt8](repeating: 0, count: 8))
        expectError(.sizeMismatch, url, contains: "6 bytes")
    }

    // MARK: size and speed

    func testLargeFileRoundTrip() throws {
        // 4M floats (16 MB): exercises the bulk paths; timing printed, asserted only loosely (debug build).
        let n = 4 << 20
        let values = (0..<n).map { Float(($0 % 1000) - 500) * 0.01 }
        let url = tmpDir.appendingPathComponent("big.safetensors")
        var t0 = Date()
        try SafeTensorsFile.write(url, tensors: [("w", [n / 1024, 1024], values)])
        let writeS = Date().timeIntervalSince(t0)
        t0 = Date()
        let r = try SafeTensorsFile.read(url)
        let readS = Date().timeIntervalSince(t0)
        XCTAssertEqual(r.tensors["w"]?.values == values, true)
        print("safetensors 16 MB: write \(String(format: "%.3f", writeS)) s, read \(String(format: "%.3f", readS)) s")
        XCTAssertLessThan(readS, 10)
    }
}
