// gamma, the scale of the Gaussian noise on soft and fuzzy thinking steps (sigma = gamma * RMS of the embedding
// matrix): its defaults, their reasons, and the rule that picks one. Every default gamma in SoftRL comes from here.
import Tasks

public enum NoiseScale {
    /// The paper's gamma for pretrained models: its best on 3-8B Llama models ("Soft Tokens, Hard Truths",
    /// arXiv 2509.19170), which reports every gamma <= 1 working and gamma = 3 collapsing.
    public static let pretrained = 0.33
    /// Models trained from scratch on a built-in task (the ~1M-parameter `tiny` preset): at 0.33 the soft-step score
    /// (x - mu)/sigma^2 swamps the answer-token gradient and RL barely moves in 120 updates, while 1.0 lifts greedy
    /// pass@1 on mnns by ~7 points (docs/RESULTS.md, "Training modes on `mnns`, one seed").
    public static let fromScratch = 1.0

    /// The default for a run on a task with these options. A task read with a tokenizer (text tasks: `words`,
    /// `jsonl:PATH` with --tokenizer) runs on the pretrained model the tokenizer belongs to; the character-level
    /// built-in tasks run on a model trained from scratch from a preset.
    public static func rule(for task: TaskOptions) -> (gamma: Double, reason: String) {
        if task.tokenizer != nil {
            return (pretrained, "the paper's, for a pretrained model: the task uses a tokenizer")
        }
        return (fromScratch, "for a model trained from scratch: a character-level task without a tokenizer")
    }
}
