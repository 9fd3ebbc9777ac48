// `--compute f32|bf16`: the precision of generation's matrix products, on every command that generates (actor,
// generate, eval, local's actors and evaluation, bench model --decode-only). The meaning lives in TensorMath's
// GenerationCompute; this group only parses, checks and applies it, and says what it became on this CPU.
import ArgumentParser
import Foundation
import TensorMath

struct ComputeOptionsGroup: ParsableArguments {
    @Option(help: ArgumentHelp(GenerationCompute.help)) var compute: String = GenerationCompute.f32.rawValue

    func validate() throws {
        do { _ = try GenerationCompute(flag: compute) } catch { throw CLIError("\(error)") }
    }

    /// Sets the process's generation precision; returns a line for the log saying what it is on this CPU.
    @discardableResult
    func apply() throws -> String {
        let c = try GenerationCompute(flag: compute)
        GenerationCompute.active = c
        switch PackedGEMM.format(for: c, weightsAreBF16: false) {
        case .bf16Products: return "compute: bf16 products (AVX512_BF16), fp32 sums and everything else fp32"
        case _ where c == .bf16:
            return
                "compute: bf16 asked, fp32 used (\(CPUFeatures.host.avx512BF16Usable ? "SIMD path \(SIMDPath.active)" : "no AVX512_BF16 on this CPU"))"
        default:
            return PackedGEMM.bf16Weights != nil
                ? "compute: f32 (bf16-valued weights are stored as bf16, products unchanged)" : "compute: f32"
        }
    }

    /// Applies the setting and writes its line to stderr (for commands whose stdout is their result).
    func applyQuietly() throws {
        let line = try apply()
        if compute != GenerationCompute.f32.rawValue { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// The flag as given, for passing on to child processes.
    var arguments: [String] { ["--compute", compute] }
}
