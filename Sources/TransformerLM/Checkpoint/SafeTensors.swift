// SafeTensors.swift — reader and writer for the Hugging Face safetensors file format, plus the
// checkpoint error type shared with the model loader.
// It is: F32/F16/BF16 reading (always upcast to [Float]), F32 writing (atomic, 8-byte aligned header),
// and strict validation with errors that name the file, the tensor, expected vs found, and a hint.
// It is not: a model loader (config.json and weight-name mapping live with the model), nor a general
// tensor library: integer/F64/FP8 tensors are rejected by `read` (their headers are still listed
// by `readHeader`), and nothing is kept memory-mapped after a call returns.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
// then the data section; offsets are relative to its start at 8 + N.

import Foundation

// MARK: - Errors

/// Every failure to read, write or interpret a checkpoint. The description always names the file,
/// the tensor if one is involved, what was expected, what was found, and a hint for the fix.
public struct CheckpointError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public enum Kind: String, Sendable, Equatable {
        case missingFile, truncatedHeader, corruptHeader, offsetsOutOfRange, overlappingTensors
        case sizeMismatch, unsupportedDType, duplicateTensor, writeFailed
        // Used by the model loader.
        case shapeMismatch, missingTensor, unsupportedArchitecture, badConfig, nonFiniteWeights, unusedTensor
    }

    public let kind: Kind
    public let file: String
    public let tensor: String?
    public let expected: String
    public let found: String
    public let hint: String

    public init(kind: Kind, file: String, tensor: String? = nil, expected: String, found: String, hint: String) {
        self.kind = kind
        self.file = file
        self.tensor = tensor
        self.expected = expected
        self.found = found
        self.hint = hint
    }

    public var description: String {
        let what: String
        switch kind {
        case .missingFile: what = "file not found"
        case .truncatedHeader: what = "truncated safetensors file"
        case .corruptHeader: what = "corrupt safetensors header"
        case .offsetsOutOfRange: what = "tensor data offsets out of range"
        case .overlappingTensors: what = "tensor data regions overlap"
        case .sizeMismatch: what = "tensor byte size does not match dtype x shape"
        case .unsupportedDType: what = "unsupported dtype"
        case .duplicateTensor: what = "duplicate tensor name"
        case .writeFailed: what = "could not write checkpoint"
        case .shapeMismatch: what = "tensor shape mismatch"
        case .missingTensor: what = "missing tensor"
        case .unsupportedArchitecture: what = "unsupported architecture"
        case .badConfig: what = "bad config"
        case .nonFiniteWeights: what = "non-finite weights"
        case .unusedTensor: what = "tensor the config does not use"
        }
        let t = tensor.map { " [tensor '\($0)']" } ?? ""
        return "\(file): \(what)\(t): expected \(expected), found \(found). Hint: \(hint)"
    }

    public var errorDescription: String? { description }

    // Convenience constructors for the loader's cases.
    public static func shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int]) -> CheckpointError {
        CheckpointError(
            kind: .shapeMismatch, file: file, tensor: tensor, expected: "shape \(expected)", found: "shape \(found)",
            hint: "the checkpoint was made for a different model size; compare config.json with the weights")
    }

    public static func missingTensor(
        file: String, tensor: String,
        hint: String =
            "the checkpoint is incomplete or uses different weight names (Hugging Face Llama names are expected)"
    ) -> CheckpointError {
        CheckpointError(
            kind: .missingTensor, file: file, tensor: tensor, expected: "a tensor named '\(tensor)'", found: "none",
            hint: hint)
    }

    public static func unsupportedArchitecture(
        file: String, found: String, expected: String = "LlamaForCausalLM (model_type \"llama\")"
    ) -> CheckpointError {
        CheckpointError(
            kind: .unsupportedArchitecture, file: file, expected: expected, found: found,
            hint: "only Llama-style decoder checkpoints can be loaded")
    }

    public static func badConfig(
        file: String, field: String, expected: String, found: String,
        hint: String = "fix config.json or regenerate the checkpoint"
    ) -> CheckpointError {
        CheckpointError(
            kind: .badConfig, file: file, tensor: nil, expected: "\(field): \(expected)", found: found, hint: hint)
    }
}

// MARK: - Tensors

/// One tensor read from a safetensors file, upcast to fp32 (row-major, like the file).
public struct SafeTensor: Sendable {
    public let name: String
    public let shape: [Int]
    /// The dtype as stored in the file ("F32", "F16", "BF16").
    public let sourceDType: String
    public let values: [Float]

    public init(name: String, shape: [Int], sourceDType: String, values: [Float]) {
        self.name = name
        self.shape = shape
        self.sourceDType = sourceDType
        self.values = values
    }
}

/// A header entry as found in the file, before any data is converted.
public struct SafeTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: String
    public let shape: [Int]
    /// Byte range within the data section.
    public let begin: Int
    public let end: Int
}

public enum SafeTensorsFile {
    /// Headers above this are refused: real ones are kilobytes, and a garbage length must not
    /// make us allocate gigabytes.
    public static let maxHeaderBytes = 100 * 1024 * 1024

    /// Bytes per element of every dtype the format defines; those outside `readableDTypes` are
    /// recognised only so that size checks and messages are precise.
    static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
        "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1
    ]
    static let readableDTypes: Set<String> = ["F32", "F16", "BF16"]

    // MARK: Reading

    /// Reads every tensor, upcasting F16/BF16 to fp32. Any other dtype is an `unsupportedDType` error.
    public static func read(_ url: URL) throws -> (tensors: [String: SafeTensor], metadata: [String: String]) {
        try read(contents: try load(url), path: url.path)
    }

    /// `read` of a file already in memory (`path` names it in errors).
    public static func read(contents data: Data, path: String) throws -> (
        tensors: [String: SafeTensor], metadata: [String: String]
    ) {
        let (infos, metadata, dataStart) = try parseHeader(data, path: path)
        for info in infos where !readableDTypes.contains(info.dtype) {
            throw CheckpointError(
                kind: .unsupportedDType, file: path, tensor: info.name,
                expected: "one of F32, F16, BF16", found: info.dtype,
                hint: "convert the checkpoint to a float dtype (e.g. torch_dtype=float32) before loading")
        }
        var tensors: [String: SafeTensor] = [:]
        tensors.reserveCapacity(infos.count)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for info in infos {
                let src = UnsafeRawBufferPointer(rebasing: raw[(dataStart + info.begin)..<(dataStart + info.end)])
                let values = decode(src, dtype: info.dtype)
                tensors[info.name] = SafeTensor(
                    name: info.name, shape: info.shape, sourceDType: info.dtype, values: values)
            }
        }
        return (tensors, metadata)
    }

    /// Lists the tensors (any dtype) and metadata without converting data. Validates exactly as `read`
    /// does, except that dtypes are not restricted to the readable ones.
    public static func readHeader(_ url: URL) throws -> (tensors: [SafeTensorInfo], metadata: [String: String]) {
        try readHeader(contents: try load(url), path: url.path)
    }

    /// `readHeader` of a file already in memory.
    public static func readHeader(contents data: Data, path: String) throws -> (
        tensors: [SafeTensorInfo], metadata: [String: String]
    ) {
        let (infos, metadata, _) = try parseHeader(data, path: path)
        return (infos, metadata)
    }

    static func load(_ url: URL) throws -> Data {
        let path = url.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw CheckpointError(
                kind: .missingFile, file: path, expected: "a safetensors file",
                found: isDir.boolValue ? "a directory" : "nothing",
                hint: "check the checkpoint directory; Hugging Face checkpoints keep weights in model.safetensors")
        }
        do {
            // Mapped: a large checkpoint is touched once, no need to copy it into memory first.
            return try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw CheckpointError(
                kind: .missingFile, file: path, expected: "a readable file",
                found: "read error: \(error.localizedDescription)",
                hint: "check file permissions")
        }
    }

    static func parseHeader(_ data: Data, path: String) throws -> ([SafeTensorInfo], [String: String], Int) {
        guard data.count >= 8 else {
            throw CheckpointError(
                kind: .truncatedHeader, file: path, expected: "at least 8 bytes (header length)",
                found: "\(data.count) bytes",
                hint: "the file is empty or was cut short while being written")
        }
        let headerLen: UInt64 = data.withUnsafeBytes { raw in
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(raw[i]) << (8 * UInt64(i)) }
            return v
        }
        guard headerLen <= UInt64(maxHeaderBytes) else {
            throw CheckpointError(
                kind: .corruptHeader, file: path, expected: "header length <= \(maxHeaderBytes) bytes",
                found: "\(headerLen) bytes",
                hint: "this is probably not a safetensors file")
        }
        let n = Int(headerLen)
        guard 8 + n <= data.count else {
            throw CheckpointError(
                kind: .truncatedHeader, file: path, expected: "header of \(n) bytes after the 8-byte length",
                found: "only \(data.count - 8) bytes in the file",
                hint: "the file was cut short, or is not a safetensors file")
        }
        let dataStart = 8 + n
        let dataSize = data.count - dataStart

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart), options: [])
        } catch {
            throw CheckpointError(
                kind: .corruptHeader, file: path, expected: "a JSON object header",
                found: "invalid JSON (\(error.localizedDescription))",
                hint: "the file is damaged or not a safetensors file")
        }
        guard let root = json as? [String: Any] else {
            throw CheckpointError(
                kind: .corruptHeader, file: path, expected: "a JSON object header", found: "a JSON \(type(of: json))",
                hint: "the file is damaged or not a safetensors file")
        }

        var metadata: [String: String] = [:]
        if let m = root["__metadata__"] {
            guard let dict = m as? [String: Any] else {
                throw corrupt(path, nil, "__metadata__ as an object of strings", "\(type(of: m))")
            }
            for (k, v) in dict {
                guard let s = v as? String else {
                    throw corrupt(path, nil, "__metadata__ value for '\(k)' to be a string", "\(v)")
                }
                metadata[k] = s
            }
        }

        var infos: [SafeTensorInfo] = []
        infos.reserveCapacity(root.count)
        for (name, entryAny) in root where name != "__metadata__" {
            guard let entry = entryAny as? [String: Any] else {
                throw corrupt(path, name, "an object with dtype, shape, data_offsets", "\(type(of: entryAny))")
            }
            guard let dtype = entry["dtype"] as? String else {
                throw corrupt(path, name, "a string \"dtype\"", "\(entry["dtype"].map { "\($0)" } ?? "none")")
            }
            guard let shapeAny = entry["shape"] as? [Any], let shape = intArray(shapeAny), shape.allSatisfy({ $0 >= 0 })
            else {
                throw corrupt(
                    path, name, "\"shape\" as a list of non-negative integers",
                    "\(entry["shape"].map { "\($0)" } ?? "none")")
            }
            guard let offAny = entry["data_offsets"] as? [Any], let off = intArray(offAny), off.count == 2 else {
                throw corrupt(
                    path, name, "\"data_offsets\" as [begin, end]", "\(entry["data_offsets"].map { "\($0)" } ?? "none")"
                )
            }
            let (begin, end) = (off[0], off[1])
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw CheckpointError(
                    kind: .offsetsOutOfRange, file: path, tensor: name,
                    expected: "0 <= begin <= end <= \(dataSize) (data section size)", found: "[\(begin), \(end)]",
                    hint: "the file was cut short or its header is damaged")
            }
            guard let elemSize = dtypeSizes[dtype] else {
                throw CheckpointError(
                    kind: .unsupportedDType, file: path, tensor: name,
                    expected: "a safetensors dtype (F32, F16, BF16, ...)", found: "\"\(dtype)\"",
                    hint: "the file uses a dtype this reader does not know")
            }
            var count = 1
            for dim in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: dim)
                guard !overflow else {
                    throw corrupt(path, name, "a shape whose element count fits in memory", "\(shape)")
                }
                count = p
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: elemSize)
            guard !overflow, bytes == end - begin else {
                throw CheckpointError(
                    kind: .sizeMismatch, file: path, tensor: name,
                    expected: "\(overflow ? "huge" : "\(bytes)") bytes (\(dtype) x shape \(shape))",
                    found: "\(end - begin) bytes in data_offsets [\(begin), \(end)]",
                    hint: "the header is inconsistent; regenerate the file")
            }
            infos.append(SafeTensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }

        // File order, so callers see tensors as written; also the order in which overlap is checked.
        infos.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var prev: SafeTensorInfo? = nil
        for info in infos where info.end > info.begin { // empty tensors occupy no bytes
            if let p = prev, info.begin < p.end {
                throw CheckpointError(
                    kind: .overlappingTensors, file: path, tensor: info.name,
                    expected: "data starting at or after \(p.end) (end of '\(p.name)')",
                    found: "[\(info.begin), \(info.end)]",
                    hint: "the header is damaged; regenerate the file")
            }
            prev = info
        }
        return (infos, metadata, dataStart)
    }

    private static func corrupt(_ path: String, _ tensor: String?, _ expected: String, _ found: String)
        -> CheckpointError
    {
        CheckpointError(
            kind: .corruptHeader, file: path, tensor: tensor, expected: expected, found: found,
            hint: "the header is not valid safetensors JSON; regenerate the file")
    }

    /// JSON numbers arrive as NSNumber; accept only integers. Booleans ("c") and floats ("d"/"f")
    /// are refused rather than coerced (NSNumber would happily turn true into 1 and 1.5 into 1).
    private static func intArray(_ a: [Any]) -> [Int]? {
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for x in a {
            guard let n = x as? NSNumber else { return nil }
            switch String(cString: n.objCType) {
            case "c", "B", "d", "f": return nil
            case "Q", "L": guard n.uint64Value <= UInt64(Int.max) else { return nil }
            default: break
            }
            out.append(n.intValue)
        }
        return out
    }

    // MARK: Conversion

    /// Decodes little-endian data (host is little-endian on every platform Swift ships for Linux/macOS).
    static func decode(_ src: UnsafeRawBufferPointer, dtype: String) -> [Float] {
        switch dtype {
        case "F32":
            let n = src.count / 4
            return [Float](unsafeUninitializedCapacity: n) { buf, initialized in
                // memcpy: the data section need not be 4-byte aligned in someone else's file.
                if n > 0 {
                    UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: src.baseAddress!, byteCount: n * 4)
                }
                initialized = n
            }
        case "BF16":
            let n = src.count / 2
            return [Float](unsafeUninitializedCapacity: n) { buf, initialized in
                for i in 0..<n {
                    let h = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
                    buf[i] = Float(bitPattern: UInt32(h) << 16) // bf16 is the top half of an fp32
                }
                initialized = n
            }
        case "F16":
            let n = src.count / 2
            return [Float](unsafeUninitializedCapacity: n) { buf, initialized in
                for i in 0..<n {
                    buf[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                }
                initialized = n
            }
        default:
            preconditionFailure("decode called for unreadable dtype \(dtype)")
        }
    }

    /// IEEE binary16 -> binary32, exact for every input (fp32 holds every fp16 value).
    @inline(__always)
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32(h >> 10) & 0x1F
        let mant = UInt32(h & 0x03FF)
        if exp == 0x1F {
            // Inf or NaN; the NaN payload moves to the top of the fp32 mantissa.
            return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
        }
        if exp == 0 {
            // Zero or subnormal: mant * 2^-24, exact since mant < 2^10.
            let v = Float(mant) * 0x1p-24
            return Float(bitPattern: sign | v.bitPattern)
        }
        // Normal: rebias exponent from 15 to 127.
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }

    // MARK: Writing

    /// Writes fp32 tensors in the given order. The header is padded with spaces so the data section
    /// starts 8-byte aligned; the file is written to a temporary name in the same directory and
    /// renamed over `url`, so readers never see a half-written checkpoint.
    public static func write(
        _ url: URL, tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:]
    ) throws {
        let path = url.path
        var seen = Set<String>()
        var header = "{"
        if !metadata.isEmpty {
            // Sorted keys: identical inputs give identical bytes.
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            header += "\"__metadata__\":{\(items.joined(separator: ","))}"
        }
        var offset = 0
        for (i, t) in tensors.enumerated() {
            guard t.name != "__metadata__", seen.insert(t.name).inserted else {
                throw CheckpointError(
                    kind: .duplicateTensor, file: path, tensor: t.name,
                    expected: "unique tensor names other than __metadata__",
                    found: "'\(t.name)' given twice or reserved", hint: "rename one of the tensors")
            }
            let count = t.shape.reduce(1, *)
            guard t.shape.allSatisfy({ $0 >= 0 }), count == t.values.count else {
                throw CheckpointError(
                    kind: .sizeMismatch, file: path, tensor: t.name,
                    expected: "\(count) values for shape \(t.shape)", found: "\(t.values.count) values",
                    hint: "the shape passed to write does not match the values")
            }
            let end = offset + 4 * count
            if !metadata.isEmpty || i > 0 { header += "," }
            header +=
                "\(jsonString(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) } // 8 + N is then a multiple of 8

        var prefix = [UInt8]()
        let n = UInt64(headerBytes.count)
        for i in 0..<8 { prefix.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        prefix.append(contentsOf: headerBytes)

        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        do {
            guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: tmp.path])
            }
            let fh = try FileHandle(forWritingTo: tmp)
            defer { try? fh.close() }
            try fh.write(contentsOf: prefix)
            // One tensor at a time: no second full-size copy of the checkpoint in memory.
            for t in tensors where !t.values.isEmpty {
                try t.values.withUnsafeBytes { try fh.write(contentsOf: Data($0)) }
            }
            try fh.synchronize() // data on disk before the rename makes it visible
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw CheckpointError(
                kind: .writeFailed, file: path, expected: "a writable directory \(dir.path)",
                found: "\(error.localizedDescription)",
                hint: "create the directory first and check permissions and free disk space")
        }
        // rename(2) replaces an existing file atomically; FileManager.moveItem would refuse to.
        if rename(tmp.path, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw CheckpointError(
                kind: .writeFailed, file: path, expected: "to rename the temporary file into place", found: reason,
                hint: "check that the destination is not a directory and is on the same filesystem")
        }
    }

    /// Minimal JSON string literal (names are ASCII in practice, but escape anything that must be).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
