// The one home of how the learner snapshots its model for actors: the blob in the wire format, cut into chunks,
// and the noise scale every soft or fuzzy rollout of that version must state (the learner rejects any other).
import Foundation
import SoftTokens
import TransformerLM

extension WeightSnapshot {
    /// gamma (the run's sampler noiseScale) times the RMS of `model`'s token embeddings as actors hold them, after
    /// the wire format's rounding: an actor on bf16 weights draws its noise from the bf16 embeddings.
    public static func expectedNoiseSigma(
        of model: LlamaModel, sampler: SamplerConfig, format: WeightsWireFormat = .f32
    ) -> Double {
        RolloutGenerator.noiseSigma(model: model, gamma: sampler.noiseScale, seenAs: format.rounded)
    }

    /// `model`'s current weights as policy `version`: encoded in `format`, in chunks of `chunkBytes`, with the
    /// noise scale its rollouts must state. Runs on the update thread (encoding a large model takes a while).
    public init(model: LlamaModel, version: Int, sampler: SamplerConfig, format: WeightsWireFormat, chunkBytes: Int)
        throws
    {
        try self.init(
            version: version, blob: format.encode(model), chunkBytes: chunkBytes,
            noiseSigma: Self.expectedNoiseSigma(of: model, sampler: sampler, format: format), format: format)
    }
}
