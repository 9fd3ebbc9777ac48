// The default peak learning rate of a new run and its reasons, by the rule gamma follows (SoftTokens/NoiseScale): a
// task read with a tokenizer runs on the pretrained model the tokenizer belongs to, a character-level built-in task
// on a model trained from scratch. A flag (--lr) or a config file's learningRate always wins.
import Tasks

public enum LearningRateRule {
    /// Pretrained models (AdamW, 5 warm-up updates, cosine decay). SmolLM2-135M-Instruct on `words` level 1 from a
    /// 20-step SFT: 20 updates of 4 prompts x 8 samples at 5e-6 lifted sampled pass@1 from 0.48 by +0.13 to +0.17
    /// in three seeds (4.7-5.1 paired standard errors), greedy pass@1 within one standard error; 2e-6 moved it +0.02
    /// in 6 updates; 1e-5 from a weaker 8-step SFT took greedy pass@1 from 0.62 to 0.20 (docs/RESULTS.md). The
    /// paper uses 3e-6 to 8e-6 on 3-8B Llama models.
    public static let pretrained = 5e-6
    /// Models trained from scratch (the ~1M-parameter presets on mnns): 3e-4 collapsed pass@k, 1e-4 did not.
    public static let fromScratch = 1e-4

    public static func rule(for task: TaskOptions) -> (lr: Double, reason: String) {
        if task.tokenizer != nil {
            return (pretrained, "for a pretrained model (measured on SmolLM2-135M): the task uses a tokenizer")
        }
        return (fromScratch, "for a model trained from scratch: a character-level task without a tokenizer")
    }
}
