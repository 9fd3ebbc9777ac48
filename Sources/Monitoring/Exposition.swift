// Reads Prometheus text exposition (what our endpoints serve) back into samples, for `softrl top`.
// Handles `name value`, `name{k="v",...} value` with escaped quotes, comments and blank lines; ignores
// timestamps. Not a general parser of every exposition variant (no exemplars, no OpenMetrics).
import Foundation

public struct Sample: Equatable, Sendable {
    public var name: String
    public var labels: [String: String]
    public var value: Double
}

public enum Exposition {
    public static func parse(_ text: String) -> [Sample] {
        var out: [Sample] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var name = "", labels: [String: String] = [:]
            var rest = Substring(line)
            if let brace = line.firstIndex(of: "{") {
                name = String(line[..<brace])
                var i = line.index(after: brace)
                while i < line.endIndex, line[i] != "}" {
                    guard let eq = line[i...].firstIndex(of: "=") else { break }
                    let key = line[i..<eq].trimmingCharacters(in: CharacterSet(charactersIn: " ,"))
                    var j = line.index(eq, offsetBy: 2, limitedBy: line.endIndex) ?? line.endIndex // skip ="
                    var value = ""
                    while j < line.endIndex, line[j] != "\"" {
                        if line[j] == "\\", line.index(after: j) < line.endIndex {
                            j = line.index(after: j)
                            value.append(line[j] == "n" ? "\n" : line[j])
                        } else {
                            value.append(line[j])
                        }
                        j = line.index(after: j)
                    }
                    labels[key] = value
                    i = j < line.endIndex ? line.index(after: j) : j
                    while i < line.endIndex, line[i] == "," || line[i] == " " { i = line.index(after: i) }
                }
                rest = i < line.endIndex ? line[line.index(after: i)...] : ""
            } else {
                let parts = line.split(separator: " ", maxSplits: 1)
                name = String(parts[0]); rest = parts.count > 1 ? parts[1] : ""
            }
            guard let token = rest.split(separator: " ").first else { continue }
            let v: Double? =
                token == "+Inf" ? .infinity : token == "-Inf" ? -.infinity : token == "NaN" ? .nan : Double(token)
            if let v { out.append(Sample(name: name, labels: labels, value: v)) }
        }
        return out
    }
}

extension Array where Element == Sample {
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        first { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }?.value
    }
}
