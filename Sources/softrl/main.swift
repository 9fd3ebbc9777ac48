// The `softrl` command line. Each subcommand lives in its own file; this file only lists them.
import ArgumentParser

struct SoftRLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "softrl",
        abstract: "Distributed RL on soft-token chains of thought with small Llama-style models.",
        subcommands: [ModelCommand.self, GenerateCommand.self, SFTCommand.self, TrainCommand.self, EvalCommand.self,
                      RolloutsCommand.self, BenchCommand.self])
}

SoftRLCommand.main()
