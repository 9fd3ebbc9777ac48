// libFuzzer entry point for the targets of FuzzHarness. Built only by scripts/fuzz.sh with
// `-sanitize=fuzzer,address -D SOFTRL_LIBFUZZER` into .build-fuzz; the target is chosen by SOFTRL_FUZZ_TARGET
// (learner, actor, safetensors, jsonl, config, tokenizer). SOFTRL_FUZZ_WRITE_SEEDS=DIR writes that target's seeds and exits.
// Without SOFTRL_LIBFUZZER (a plain `swift build`) it is a replayer: `SoftRLFuzz TARGET FILE...` runs each file
// once and reports findings, `SoftRLFuzz TARGET --write-seeds DIR` writes the seeds.
import Foundation
import FuzzHarness

#if SOFTRL_LIBFUZZER
    nonisolated(unsafe) var runner: ((Data) throws -> Void)?

    /// libFuzzer's driver (from -sanitize=fuzzer). SwiftPM links an executable with `main` defined as MODULE_main, so
    /// libFuzzer's own main is not used: this module's entry point sets the target up and hands over to the driver.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("SoftRLFuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        let env = ProcessInfo.processInfo.environment
        guard let name = env["SOFTRL_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(
                Data(
                    "set SOFTRL_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n"
                        .utf8))
            return 64
        }
        do {
            if let dir = env["SOFTRL_FUZZ_WRITE_SEEDS"] {
                try target.writeSeeds(to: URL(fileURLWithPath: dir))
                return 0
            }
            runner = try target.makeRunner()
        } catch {
            FileHandle.standardError.write(Data("cannot set up fuzz target \(name): \(error)\n".utf8))
            return 70
        }
        var count = argc
        var args = argv
        return LLVMFuzzerRunDriver(&count, &args) { bytes, size in
            let data = size > 0 && bytes != nil ? Data(bytes: bytes!, count: size) : Data()
            do { try runner!(data) } catch {
                FileHandle.standardError.write(Data("FUZZ FINDING: \(error)\n".utf8))
                abort()
            }
            return 0
        }
    }
#else
    @main
    struct SoftRLFuzzReplay {
        static func main() throws {
            let args = Array(CommandLine.arguments.dropFirst())
            guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
                print(
                    "usage: SoftRLFuzz TARGET FILE... | SoftRLFuzz TARGET --write-seeds DIR   (TARGET: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
                exit(64)
            }
            if args.count == 3 && args[1] == "--write-seeds" {
                try target.writeSeeds(to: URL(fileURLWithPath: args[2])); return
            }
            let run = try target.makeRunner()
            var failed = 0
            for path in args.dropFirst() {
                do { try run(try Data(contentsOf: URL(fileURLWithPath: path))); print("ok \(path)") } catch {
                    failed += 1; print("FINDING \(path): \(error)")
                }
            }
            exit(failed == 0 ? 0 : 1)
        }
    }
#endif
