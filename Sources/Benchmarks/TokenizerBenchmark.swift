// `softrl bench tokenizer`: encoding speed of SoftRL's tokenizer beside the Python `tokenizers` package (Rust) on
// the same text in one run (scripts/reference/bench_tokenizer.py with TensorMath.ReferencePython's interpreter),
// with a check that both produced the same ids. Lines go to `output`.
import Foundation
import TensorMath
import TextTokenizers
import TransformerLM
import Transport

public struct TokenizerBenchmark {
    /// UTF-8 text file to encode (nil: the repository's README.md and Swift sources, concatenated).
    public var file: String?
    /// Warm repeats (the best is reported).
    public var repeats = 3
    public var noPython = false
    public var output: (String) -> Void = { print($0) }

    public init() {}

    /// Encodes the text with `tok` (loaded from `dir`, a directory holding tokenizer.json or the file) and, unless
    /// `noPython`, with the Python package on the same text.
    public func run(_ tok: HFTokenizer, dir: String, load: Double) throws {
        let fm = FileManager.default
        let root = Self.findRepoRoot()
        var textPath = file
        if textPath == nil {
            guard let root else {
                throw ConfigError("no --file given and the repository was not found: pass --file TEXT")
            }
            var text = (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
            if let e = fm.enumerator(at: root.appendingPathComponent("Sources"), includingPropertiesForKeys: nil) {
                for case let u as URL in e where u.pathExtension == "swift" && !u.path.contains("Generated") {
                    text += (try? String(contentsOf: u, encoding: .utf8)) ?? ""
                }
            }
            let tmp = fm.temporaryDirectory.appendingPathComponent("softrl-tokenizer-bench-\(getpid()).txt")
            try text.write(to: tmp, atomically: true, encoding: .utf8)
            textPath = tmp.path
        }
        guard let data = fm.contents(atPath: textPath!) else { throw ConfigError("cannot read --file \(textPath!)") }
        let text = String(decoding: data, as: UTF8.self)
        var t0 = DispatchTime.now().uptimeNanoseconds
        let ids = tok.encode(text, addSpecialTokens: false)
        let cold = seconds(since: t0)
        var warm = Double.infinity
        for _ in 0..<max(1, repeats) {
            t0 = DispatchTime.now().uptimeNanoseconds
            _ = tok.encode(text, addSpecialTokens: false)
            warm = min(warm, seconds(since: t0))
        }
        var raw = Data()
        for i in ids { withUnsafeBytes(of: i.littleEndian) { raw.append(contentsOf: $0) } }
        let digest = SHA256Hasher.hex(raw)
        let mb = Double(data.count) / 1e6
        output("text: \(data.count) bytes, \(ids.count) tokens (\(textPath!))")
        output(
            String(
                format: "SoftRL  : load %.3f s, encode cold %.3f s (%.2f MB/s), warm %.3f s (%.2f MB/s)", load, cold,
                mb / cold, warm, mb / warm))
        if noPython { return }
        guard let root else { output("python: skipped (repository not found)"); return }
        let python: String
        switch ReferencePython.find(repositoryRoot: root, importing: ["tokenizers"]) {
        case .success(let p): python = p
        case .failure(let why): output("python: skipped (\(why))"); return
        }
        var tokPath = dir
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue {
            tokPath = (dir as NSString).appendingPathComponent("tokenizer.json")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [
            root.appendingPathComponent("scripts/reference/bench_tokenizer.py").path, tokPath, textPath!, "--repeats",
            "\(repeats)"
        ]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
            let obj =
                (try? JSONSerialization.jsonObject(
                    with: Data((String(decoding: o, as: UTF8.self).split(separator: "\n").last ?? "").utf8)))
                as? [String: Any],
            let pc = obj["cold"] as? Double, let pw = obj["warm"] as? Double, let pl = obj["load"] as? Double
        else {
            output(
                "python: skipped (bench_tokenizer.py failed: \(String(decoding: e, as: UTF8.self).split(separator: "\n").last ?? ""))"
            )
            return
        }
        output(
            String(
                format: "Python  : load %.3f s, encode cold %.3f s (%.2f MB/s), warm %.3f s (%.2f MB/s)", pl, pc,
                mb / pc, pw, mb / pw))
        output(
            String(
                format: "ratio (SoftRL speed / Python speed): cold %.2fx, warm %.2fx; ids %@", pc / cold, pw / warm,
                (obj["sha256"] as? String) == digest ? "identical" : "DIFFER (\(obj["tokens"] ?? "?") Python tokens)"))
    }

    func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }

    static func findRepoRoot() -> URL? {
        let fm = FileManager.default
        for start in [
            URL(fileURLWithPath: fm.currentDirectoryPath),
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        ] {
            var d = start.standardizedFileURL
            for _ in 0..<8 {
                if fm.fileExists(atPath: d.appendingPathComponent("scripts/reference/bench_tokenizer.py").path) {
                    return d
                }
                d = d.deletingLastPathComponent()
            }
        }
        return nil
    }
}
