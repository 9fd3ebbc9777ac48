// What a run was: written once per run directory as `metadata.json` (a resume keeps the first one and appends
// the resume to `resumes`). Software version, git commit, the full resolved RLConfig, task, model config, host,
// cores, OS, command line. The report shows it; anyone reading a run years later needs it.
import Foundation
import Cluster
import TensorMath
import Run
import TransformerLM

public struct RunMetadata: Codable {
    public static let softwareVersion = "0.1.0"

    public var software = "softrl " + RunMetadata.softwareVersion
    /// `git rev-parse HEAD` of the source tree the binary was built in (+ "-dirty" with uncommitted changes);
    /// SOFTRL_GIT_COMMIT overrides it (container builds have no .git); "unknown" when neither is available.
    public var gitCommit = RunMetadata.gitCommit()
    public var createdAt = ISO8601DateFormatter().string(from: Date())
    public var role = "learner"
    public var runId = ""
    public var commandLine = CommandLine.arguments
    public var task = ""
    public var config: RLConfig?
    public var model: LlamaConfig?
    public var modelParameters = 0
    public var host = ProcessInfo.processInfo.hostName
    public var cores = ProcessInfo.processInfo.activeProcessorCount
    public var os = ProcessInfo.processInfo.operatingSystemVersionString
    /// The OpenBLAS kernel in use and why (TensorMath.BLASKernel, chosen at start-up), and its details.
    public var blasKernel = BLASKernel.current.summary
    public var blasKernelDetails = BLASKernel.current.metadata
    /// Times the run was resumed (ISO 8601), appended by `write(to:)` when metadata.json already exists.
    public var resumes: [String] = []

    public init(runId: String, config: RLConfig, model: LlamaConfig, parameters: Int) {
        self.runId = runId; self.config = config; self.task = config.task; self.model = model;
        self.modelParameters = parameters
    }

    /// Writes RUN_DIR/metadata.json unless it exists; if it does, records this start as a resume and keeps the rest.
    public func write(to runDirectory: URL) throws {
        let url = runDirectory.appendingPathComponent("metadata.json")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        var record = self
        if let data = try? Data(contentsOf: url), var old = try? JSONDecoder().decode(RunMetadata.self, from: data) {
            old.resumes.append(createdAt)
            record = old
        }
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(record).write(to: url, options: .atomic)
    }

    public static func read(_ runDirectory: URL) -> RunMetadata? {
        guard let data = try? Data(contentsOf: runDirectory.appendingPathComponent("metadata.json")) else { return nil }
        return try? JSONDecoder().decode(RunMetadata.self, from: data)
    }

    static func gitCommit() -> String {
        if let c = ProcessInfo.processInfo.environment["SOFTRL_GIT_COMMIT"], !c.isEmpty { return c }
        // The binary lives in SOURCE/.build/<config>/softrl: look for the repository above it.
        var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path) {
                guard let head = run("/usr/bin/git", ["-C", dir.path, "rev-parse", "HEAD"]), !head.isEmpty else {
                    break
                }
                let dirty =
                    (run("/usr/bin/git", ["-C", dir.path, "status", "--porcelain", "--untracked-files=no"]) ?? "")
                        .isEmpty ? "" : "-dirty"
                return head + dirty
            }
            dir = dir.deletingLastPathComponent()
        }
        return "unknown"
    }

    private static func run(_ exe: String, _ args: [String]) -> String? {
        guard FileManager.default.isExecutableFile(atPath: exe) else { return nil }
        let p = Process(); p.executableURL = URL(fileURLWithPath: exe); p.arguments = args
        let pipe = Pipe(); p.standardOutput = pipe; p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
