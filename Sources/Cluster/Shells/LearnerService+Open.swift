// How a learner process begins: a new run from a base checkpoint, or a resumed run from its checkpoint, with the
// run's settings planned from the flags, a handed-over config (`softrl local`) and the saved state (Run.RunOverrides).
import Foundation
import Run
import Tasks

extension LearnerService {
    public enum Start {
        /// A new run from a base checkpoint directory.
        case new(base: String)
        /// A run directory (or its checkpoint directory) to continue.
        case resume(String)
    }

    /// The plan's messages (what a resume changes or ignores) go to `say`. On a resume the run directory is the one
    /// that holds the checkpoint, whatever `options` said.
    public static func open(
        _ start: Start, settings: RunOverrides, handedOver: RLConfig?, options: LearnerOptions,
        ranks: LearnerRankGroup?, say: (String) -> Void = { print($0) }
    ) throws -> LearnerService {
        var options = options
        switch start {
        case .resume(let resume):
            let dir = try LearnerCheckpoint.locate(resume)
            let (model, opt, state) = try LearnerCheckpoint.load(dir)
            let plan = try settings.plan(saved: state.config, handedOver: handedOver)
            plan.messages.forEach(say)
            let task = try TaskCatalog.make(name: plan.config.task, options: plan.config.taskOptions)
            options.runDirectory = dir.deletingLastPathComponent() // the run directory holds checkpoint/
            say(
                "resuming run \(state.runId) at step \(state.step) from \(dir.path); \(state.outstandingPositions.count) in-flight prompt(s) will be re-issued"
            )
            return try LearnerService(
                model: model, config: plan.config, task: task, options: options, resume: (opt, state), ranks: ranks)
        case .new(let base):
            let plan = try settings.plan(saved: nil, handedOver: handedOver)
            plan.messages.forEach(say)
            let task = try TaskCatalog.make(name: plan.config.task, options: plan.config.taskOptions)
            let model = try ModelLoading.load(base, for: task)
            return try LearnerService(model: model, config: plan.config, task: task, options: options, ranks: ranks)
        }
    }
}
