// The fuzz targets by name: what runs one input, and their seeds. Used by the libFuzzer executable
// (SoftRLFuzz, scripts/fuzz.sh) and by the XCTest that replays the committed corpus (FuzzCorpus/).
import Foundation

public enum FuzzTarget: String, CaseIterable, Sendable {
    case learner, actor, safetensors, jsonl, config, tokenizer

    /// A function that runs one input (throws FuzzFinding when an audit fails).
    public func makeRunner() throws -> (Data) throws -> Void {
        switch self {
        case .learner:
            let fixture = try LearnerFuzzRun.fixture()
            return { try LearnerFuzzRun(fixture).run($0) }
        case .actor:
            return { try ActorFuzzRun().run($0) }
        case .safetensors:
            let files = FileFuzz()
            return { try files.safetensors($0) }
        case .jsonl:
            let files = FileFuzz()
            return { try files.jsonl($0) }
        case .config:
            let files = FileFuzz()
            return { try files.config($0) }
        case .tokenizer:
            let files = FileFuzz()
            return { try files.tokenizer($0) }
        }
    }

    public func seeds() throws -> [(String, Data)] {
        switch self {
        case .learner: return try FuzzSeeds.learner(try LearnerFuzzRun.fixture())
        case .actor: return try FuzzSeeds.actor(try LearnerFuzzRun.fixture())
        case .safetensors: return try FuzzSeeds.safetensors()
        case .jsonl: return FuzzSeeds.jsonl()
        case .config: return try FuzzSeeds.config()
        case .tokenizer: return try FuzzSeeds.tokenizer()
        }
    }

    /// Writes the seeds into `directory` as seed-NAME files.
    public func writeSeeds(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, data) in try seeds() { try data.write(to: directory.appendingPathComponent("seed-\(name)")) }
    }
}

/// An invariant a fuzz input broke (as opposed to a crash, which the sanitizer reports by itself).
public struct FuzzFinding: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
