// The two file readers a user (or a downloaded file) feeds: the safetensors reader and the JSONL task loader.
// Both are driven through their in-memory entry points (the same parsing and checks as from a file, without
// the file system). Audited: what a successful read returns is consistent (element counts match shapes; every
// problem's tokens are in the task's vocabulary).
import Foundation
import Tasks
import TransformerLM

public final class FileFuzz {
    public init() {}

    /// Returns whether the file was accepted.
    @discardableResult
    public func safetensors(_ data: Data) throws -> Bool {
        let header = try? SafeTensorsFile.readHeader(contents: data, path: "fuzz.safetensors")
        guard let (tensors, _) = try? SafeTensorsFile.read(contents: data, path: "fuzz.safetensors") else { return false }
        guard let header else { throw FuzzFinding("read accepted a file whose header readHeader refused") }
        guard Set(header.tensors.map(\.name)) == Set(tensors.keys) else { throw FuzzFinding("read and readHeader list different tensors") }
        for t in tensors.values {
            guard t.values.count == t.shape.reduce(1, *) else {
                throw FuzzFinding("tensor \(t.name): \(t.values.count) values for shape \(t.shape)")
            }
        }
        return true
    }

    /// Returns whether the file was accepted as a task.
    @discardableResult
    public func jsonl(_ data: Data) throws -> Bool {
        guard let task = try? JSONLTask(path: "fuzz.jsonl", contents: data) else { return false }
        let vocabulary = Int32(task.vocabulary.count)
        for split in [Split.train, .test] {
            for i in 0..<task.count(split) {
                let p = task.problem(split, i)
                for t in p.prompt + p.answerTokens where t < 0 || t >= vocabulary {
                    throw FuzzFinding("problem \(i) holds token \(t) outside its vocabulary of \(vocabulary)")
                }
                _ = task.verdict(answerTokens: p.answerTokens, for: p)
            }
        }
        return true
    }
}
