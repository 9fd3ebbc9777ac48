// The `softrl` command line. Each subcommand lives in its own file; this file only lists them.
import ArgumentParser
import Foundation
import TensorMath

struct SoftRLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "softrl",
        abstract: "Distributed RL on soft-token chains of thought with small Llama-style models.",
        subcommands: [
            ModelCommand.self, GenerateCommand.self, TokenizeCommand.self, SFTCommand.self, TrainCommand.self,
            EvalCommand.self, NoiseScaleCommand.self,
            RolloutsCommand.self, LearnerCommand.self, ActorCommand.self, LocalCommand.self, KeysCommand.self,
            BenchCommand.self,
            TopCommand.self, ReportCommand.self
        ])
}

// Before anything else, and before any BLAS call: make sure OpenBLAS runs the best kernel this CPU supports. This
// may re-execute the process once (OpenBLAS reads OPENBLAS_CORETYPE only when it loads); see
// TensorMath/BLASKernel.swift. The choice and its reason are BLASKernel.current.summary.
BLASKernel.selectAtStartup()

// Line-buffered stdout: progress lines must appear in order when a parent process (e.g. `local`) pipes them.
setvbuf(stdout, nil, _IOLBF, 0)
// First line of the heavy commands when the user's OPENBLAS_CORETYPE is older than this CPU supports: its measured cost.
CoreTypeNotice.printIfNeeded(arguments: CommandLine.arguments)
SoftRLCommand.main()
