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
        let merged = merge(try encodedObject(defaults), override)
        let data = try JSONSerialization.data(withJSONObject: merged)
        let value: T
        do { value = try JSONDecoder().decode(T.self, from: data) } catch {
            throw ConfigFileError(
                description:
                    "config \(source): a value has the wrong type (\(describe(error))); the fields and their types are in Sources/Run/RLConfig.swift and `softrl train --help`"
            )
        }
        // A key is known when the value decoded from the file encodes it again. That covers the optional settings
        // whose default is nil (absent from the encoded defaults) without a list of them to keep. A key set to null
        // is left alone: it sets nothing either way.
        try requireKnownKeys(override, known: try encodedObject(value), path: "", source: source)
        return value
    }

    static func encodedObject<T: Encodable>(_ value: T) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as! [String: Any]
    }

    static func merge(_ base: [String: Any], _ over: [String: Any]) -> [String: Any] {
        var out = base
        for (k, v) in over {
            if let bo = base[k] as? [String: Any], let vo = v as? [String: Any] {
                out[k] = merge(bo, vo)
            } else {
                out[k] = v
            }
        }
        return out
    }

    static func requireKnownKeys(_ over: [String: Any], known: [String: Any], path: String, source: String) throws {
        for (k, v) in over where !(v is NSNull) {
            guard let kv = known[k] else {
                throw ConfigFileError(
                    description:
                        "config \(source): unknown key '\(path)\(k)'; valid keys here: \(known.keys.sorted().joined(separator: ", "))"
                )
            }
            if let vo = v as? [String: Any], let ko = kv as? [String: Any] {
                try requireKnownKeys(vo, known: ko, path: path + k + ".", source: source)
            }
        }
    }

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
