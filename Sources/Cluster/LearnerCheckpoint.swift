// The learner's resumable state, written atomically: model weights (Hugging Face layout), AdamW moments, and
// learner_state.json (step, run id, run config, prompt-schedule cursor and the positions that were issued but
// not yet trained on, which a resumed run re-issues), and the run config again as rl_config.json (Run.RunConfigFile,
// what `softrl eval` reads wherever the checkpoint is copied). Written to a temporary directory, then renamed into
// place, so a crash leaves either the old checkpoint or the new one, never half of one.
import Foundation
import PolicyGradient
import Run
import TensorMath
import TransformerLM

public struct LearnerState: Codable, Sendable {
    public var runId: String
    public var step: Int
    public var config: RLConfig
    public var scheduleCursor: Int
    public var outstandingPositions: [Int]
    public var droppedStale: Int
    public var reissued: Int
    public var savedAt: String

    /// The same point of the run (the time of writing aside): writing one after the other adds nothing.
    public func sameProgress(as o: LearnerState) -> Bool {
        runId == o.runId && step == o.step && scheduleCursor == o.scheduleCursor
            && outstandingPositions == o.outstandingPositions && droppedStale == o.droppedStale && reissued == o.reissued
    }
}

public enum LearnerCheckpoint {
    public static let directoryName = "checkpoint"
    static let stateFile = "learner_state.json"
    static let optimizerFile = "optimizer.safetensors"

    public static func save(model: LlamaModel, optimizer: AdamW, state: LearnerState, runDirectory: URL) throws {
        let fm = FileManager.default
        let final = runDirectory.appendingPathComponent(directoryName)
        let tmp = runDirectory.appendingPathComponent("\(directoryName).tmp-\(getpid())")
        let old = runDirectory.appendingPathComponent("\(directoryName).old")
        try? fm.removeItem(at: tmp)
        try ModelCheckpoint.save(
            model, directory: tmp, metadata: ["softrl.stage": "rl", "softrl.step": "\(state.step)"])
        let n = optimizer.parameterCount
        try SafeTensorsFile.write(
            tmp.appendingPathComponent(optimizerFile),
            tensors: [("adam.m", [n], optimizer.m), ("adam.v", [n], optimizer.v)],
            metadata: ["step": "\(optimizer.step)"])
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(state).write(to: tmp.appendingPathComponent(stateFile), options: .atomic)
        try RunConfigFile.write(state.config, into: tmp) // the checkpoint carries its run's settings wherever it is copied
        try? fm.removeItem(at: old)
        if fm.fileExists(atPath: final.path) { try fm.moveItem(at: final, to: old) }
        try fm.moveItem(at: tmp, to: final)
        try? fm.removeItem(at: old)
    }

    /// Finds the checkpoint in a run directory (or accepts the checkpoint directory itself).
    public static func locate(_ path: String) throws -> URL {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: path)
        for candidate in [
            url, url.appendingPathComponent(directoryName), url.appendingPathComponent("\(directoryName).old")
        ]
        where fm.fileExists(atPath: candidate.appendingPathComponent(stateFile).path) {
            return candidate
        }
        throw ConfigError(
            "no learner checkpoint in \(path): expected \(path)/\(directoryName)/\(stateFile); pass the --run-dir of an earlier `softrl learner` run"
        )
    }

    public static func load(_ directory: URL) throws -> (model: LlamaModel, optimizer: AdamWState, state: LearnerState)
    {
        let model = try ModelCheckpoint.load(directory: directory)
        let state = try readState(directory)
        let optURL = directory.appendingPathComponent(optimizerFile)
        let (tensors, meta) = try SafeTensorsFile.read(optURL)
        guard let m = tensors["adam.m"], let v = tensors["adam.v"], m.values.count == model.parameterCount,
            v.values.count == model.parameterCount, let step = Int(meta["step"] ?? "")
        else {
            throw ConfigError(
                "optimizer state \(optURL.path) does not match the model (\(model.parameterCount) parameters)")
        }
        return (model, AdamWState(step: step, m: m.values, v: v.values), state)
    }
}

extension LearnerCheckpoint {
    /// The checkpoint's learner_state.json alone (no weights), e.g. for the run config a rerun resumes with.
    public static func readState(_ directory: URL) throws -> LearnerState {
        let stateURL = directory.appendingPathComponent(stateFile)
        do { return try JSONDecoder().decode(LearnerState.self, from: Data(contentsOf: stateURL)) } catch {
            throw ConfigError(
                "learner state \(stateURL.path) is unreadable (\(error)); the checkpoint is damaged: use \(directory.path).old if present"
            )
        }
    }
}

/// The current weights as one immutable blob (raw little-endian fp32 in layout order) that actors fetch in
/// chunks: serving never touches the live model, which the next update may be changing.
public enum WeightsBlob {
    /// Welcome.weights_format: every parameter as little-endian fp32 in ParameterLayout order (see softrl.proto).
    public static let format = "f32-flat-v1"
    public static func encode(_ model: LlamaModel) -> Data {
        Data(bytes: model.weights.pointer, count: model.parameterCount * MemoryLayout<Float>.size)
    }

    public static func decode(_ blob: Data, into model: LlamaModel) throws {
        guard blob.count == model.parameterCount * MemoryLayout<Float>.size else {
            throw ConfigError(
                "weights blob has \(blob.count) bytes, the model needs \(model.parameterCount * 4): actor and learner disagree on the model config"
            )
        }
        blob.withUnsafeBytes { raw in
            _ = memcpy(model.weights.pointer, raw.baseAddress!, blob.count)
        }
    }
}
