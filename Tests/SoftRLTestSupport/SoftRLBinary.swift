// The repository's root and the built `softrl` binary, for the tests that run it as a user does (cluster, command
// line and operator's-view tests, in more than one test target).
import Foundation
import XCTest

public enum SoftRLBinary {
    /// The repository's root (this file is Tests/SoftRLTestSupport/SoftRLBinary.swift).
    public static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The built `softrl`: beside the test bundle, else in .build/debug or .build/release; a skip saying where it
    /// looked when there is none.
    public static func find() throws -> URL {
        let fm = FileManager.default
        var candidates = [
            Bundle(for: BundleMarker.self).bundleURL.deletingLastPathComponent().appendingPathComponent("softrl")
        ]
        for config in ["debug", "release"] {
            candidates.append(repoRoot.appendingPathComponent(".build/\(config)/softrl"))
        }
        guard let found = candidates.first(where: { fm.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip(
                "softrl binary not built (looked at \(candidates.map(\.path))): run `swift build --product softrl`")
        }
        return found
    }

    /// Any class of the test binary: its bundle is the one the test targets are linked into.
    private final class BundleMarker {}
}
