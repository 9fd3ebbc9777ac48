// The `softrl` command line. Each subcommand lives in its own file; this file only lists them.
import ArgumentParser
import Foundation

struct SoftRLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "softrl",
        abstract: "Distributed RL on soft-token chains of thought with small Llama-style models.",
        subcommands: [ModelCommand.self, GenerateCommand.self, SFTCommand.self, TrainCommand.self, EvalCommand.self,
                      RolloutsCommand.self, LearnerCommand.self, ActorCommand.self, LocalCommand.self, KeysCommand.self, BenchCommand.self])
}

// Line-buffered stdout: progress lines must appear in order when a parent process (e.g. `local`) pipes them.
setvbuf(stdout, nil, _IOLBF, 0)
SoftRLCommand.main()
