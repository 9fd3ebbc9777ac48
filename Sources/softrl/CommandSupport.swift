// What every command shares: the one error style (CLIError: one line saying what was wrong and what to do;
// ArgumentParser prints it on stderr and exits non-zero) and checkpoint loading in that style.
import ArgumentParser
import Foundation
import Run
import SoftTokens
import Tasks
import TransformerLM

/// A user-facing failure: the message is printed as it is, on one line.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Loads a checkpoint directory (checked against `task`'s vocabulary when given); failures are one-line CLIErrors.
func loadModel(_ path: String, for task: (any ReasoningTask)? = nil) throws -> LlamaModel {
    do { return try ModelLoading.load(path, for: task) } catch let e as ConfigError { throw CLIError(e.description) }
}

/// Parses comma-separated thinking modes ("hard,soft"); a wrong name is named beside the valid ones.
func parseModes(_ text: String, flag: String = "--modes") throws -> [ThinkingMode] {
    try text.split(separator: ",").map { m in
        guard let mode = ThinkingMode(rawValue: String(m)) else {
            let valid = ThinkingMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw CLIError("\(flag): '\(m)' is not a thinking mode; use \(valid)")
        }
        return mode
    }
}

func formatMs(_ ms: Double) -> String { String(format: "%.0f ms", ms) }
