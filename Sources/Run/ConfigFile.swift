// Configuration files: a JSON file overrides a Codable value's defaults key by key (nested objects merge), and an
// unknown key is an error naming it and listing the valid ones, so a typo never silently does nothing.
import Foundation

public struct ConfigFileError: Error, CustomStringConvertible {
    public let description: String
}

public enum ConfigFile {
    /// `defaults` with every key present in the JSON file at `path` replaced.
    public static func load<T: Codable>(_ path: String, over defaults: T) throws -> T {
        try apply(object(path), over: defaults, source: path)
    }

    /// The JSON object in the file at `path`.
    public static func object(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigFileError(description: "config file \(path) not found: pass an existing JSON file to --config")
        }
        guard let override = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ConfigFileError(
                description: "config file \(path) is not a JSON object: expected {\"key\": value, ...}")
        }
        return override
    }

    public static func apply<T: Codable>(_ override: [String: Any], over defaults: T, source: String) throws -> T {
        let encoder = JSONEncoder()
        let base = try JSONSerialization.jsonObject(with: encoder.encode(defaults)) as! [String: Any]
        let merged = try merge(base, override, path: "", source: source)
        let data = try JSONSerialization.data(withJSONObject: merged)
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw ConfigFileError(
                description:
                    "config \(source): a value has the wrong type (\(describe(error))); the fields and their types are in Sources/Run/RLConfig.swift and `softrl train --help`"
            )
        }
    }

    static func merge(_ base: [String: Any], _ over: [String: Any], path: String, source: String) throws -> [String:
        Any]
    {
        var out = base
        for (k, v) in over {
            // Optional fields that default to nil are absent from the encoded defaults but still valid.
            if base[k] == nil && !optionalKeysAllowed.contains(k) {
                throw ConfigFileError(
                    description:
                        "config \(source): unknown key '\(path)\(k)'; valid keys here: \(base.keys.sorted().joined(separator: ", "))"
                )
            }
            if let bo = base[k] as? [String: Any], let vo = v as? [String: Any] {
                out[k] = try merge(bo, vo, path: path + k + ".", source: source)
            } else {
                out[k] = v
            }
        }
        return out
    }

    /// Keys of optional settings whose default is nil (absent when the defaults are encoded).
    static let optionalKeysAllowed: Set<String> = [
        "topK", "topP", "minP", "tisCap", "thinkingLimit", "answerLimit", "tokenizer", "microBatch"
    ]

    static func describe(_ e: Error) -> String {
        switch e {
        case let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c),
            let DecodingError.dataCorrupted(c):
            return c.codingPath.map(\.stringValue).joined(separator: ".") + ": " + c.debugDescription
        case let DecodingError.keyNotFound(k, _): return "missing \(k.stringValue)"
        default: return "\(e)"
        }
    }
}
