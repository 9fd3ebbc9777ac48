// Loading a checkpoint for a run, with one error per way it can fail (missing directory, a file instead of a
// directory, a damaged checkpoint, a vocabulary too small for the task), each saying what to do.
import Foundation
import Tasks
import TransformerLM

public enum ModelLoading {
    /// The checkpoint in directory `path`; with a task, checked to hold the task's vocabulary (and its tokenizer's).
    public static func load(_ path: String, for task: (any ReasoningTask)? = nil) throws -> LlamaModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError(
                "checkpoint directory '\(path)' does not exist: create one with `softrl model init --preset tiny --out \(path)` or `softrl sft --out \(path)`"
            )
        }
        guard isDirectory.boolValue else {
            throw ConfigError(
                "'\(path)' is a file, not a checkpoint directory: pass the directory holding config.json and model.safetensors"
            )
        }
        let model: LlamaModel
        do { model = try ModelCheckpoint.load(directory: URL(fileURLWithPath: path)) } catch let e as CheckpointError {
            throw ConfigError(e.description)
        } catch {
            throw ConfigError("could not load checkpoint '\(path)': \(error)")
        }
        guard let task else { return model }
        guard model.config.vocabSize >= task.vocabulary.count else {
            throw ConfigError(
                "checkpoint \(path) has vocab_size \(model.config.vocabSize) but task '\(task.name)' needs \(task.vocabulary.count) tokens: train a base for this task with `softrl sft --task \(task.name)`"
            )
        }
        if let text = task as? TextTask, text.tokenizer.vocabSize > model.config.vocabSize {
            throw ConfigError(
                "checkpoint \(path) has vocab_size \(model.config.vocabSize) but the task's tokenizer (\(text.tokenizer.source)) uses ids up to \(text.tokenizer.vocabSize - 1): use the model the tokenizer belongs to"
            )
        }
        return model
    }
}
