// What the command-line tests share: the built `softrl` binary and a program run to its end with its standard
// output and standard error kept apart.
import Foundation
import SoftRLTestSupport

/// A finished command: exit status, standard output, standard error.
struct CommandRun { let status: Int32; let stdout: String; let stderr: String }

/// A test case that runs `softrl` (or a reference script) in a subprocess, as a user runs it.
protocol SoftRLCommandLine {}

extension SoftRLCommandLine {
    /// The built `softrl`, or a skip saying where it looked.
    func softrlBinary() throws -> URL { try SoftRLBinary.find() }

    func run(_ exe: URL, _ args: [String]) throws -> CommandRun {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CommandRun(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }
}
