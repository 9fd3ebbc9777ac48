// The Python that runs the reference implementations (PyTorch and transformers, tensorboard, the protobuf peer):
// $SOFTRL_PYTHON, else the repository's .venv/bin/python, else a python3 on the PATH. One rule for the tests and
// the benchmarks; the first candidate that exists and imports what the caller needs wins.
import Foundation

public enum ReferencePython {
    /// The interpreters to try, in order. `repositoryRoot`: the checkout whose .venv to use (nil: none known).
    public static func candidates(repositoryRoot: URL?) -> [String] {
        var out: [String] = []
        if let p = ProcessInfo.processInfo.environment["SOFTRL_PYTHON"], !p.isEmpty { out.append(p) }
        if let root = repositoryRoot { out.append(root.appendingPathComponent(".venv/bin/python").path) }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        // Every python3 on the PATH, not just the first: a version manager's shim may come before the system's.
        for python3 in path.split(separator: ":").map({ "\($0)/python3" })
        where FileManager.default.isExecutableFile(atPath: python3) && !out.contains(python3) {
            out.append(python3)
        }
        return out
    }

    /// The first candidate that can `import` every module in `modules`, or why there is none (for a test's skip);
    /// `packages`: what to pip-install for them, when the names differ (e.g. "pyzmq protobuf" for zmq, google.protobuf).
    public static func find(repositoryRoot: URL?, importing modules: [String], packages: String? = nil) -> Result<
        String, ReferencePythonMissing
    > {
        let tried = candidates(repositoryRoot: repositoryRoot)
        for python in tried where FileManager.default.isExecutableFile(atPath: python) {
            if imports(python, modules) { return .success(python) }
        }
        let list = modules.joined(separator: " ")
        return .failure(
            ReferencePythonMissing(
                description: "no Python that can import \(list) (tried \(tried.joined(separator: ", "))): "
                    + "set SOFTRL_PYTHON, or `python3 -m venv .venv && .venv/bin/pip install \(packages ?? list)` at the repository root"
            ))
    }

    static func imports(_ python: String, _ modules: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import " + (modules.isEmpty ? "sys" : modules.joined(separator: ", "))]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
}

public struct ReferencePythonMissing: Error, CustomStringConvertible {
    public let description: String
}
