// `softrl bench model`: this machine's fp32 roofline (SoftRL's own packed kernel, so a slow OpenBLAS kernel cannot
// lower it), OpenBLAS's sgemm beside it, SoftRL's training and decode throughput, and the same
// figures from PyTorch (scripts/reference/bench_torch.py run with the project's venv python) side by side, over
// one or more rounds. Progress lines go to `output` (the command prints them); the result is one JSON-ready report.
import Foundation
import PolicyGradient
import Run
import TensorMath
import TransformerLM

public struct ModelComparison {
    /// BLAS (and PyTorch) threads.
    public var threads = 1
    /// Report only the JSON object: no progress lines.
    public var json = false
    public var noTorch = false
    /// Training batch size (nil: 16; 4 for smollm2).
    public var batch: Int?
    public var seq = 64
    public var decodeTokens = 64
    public var prompt = 8
    /// Minimum timed seconds of training per preset.
    public var trainSeconds = 3.0
    /// SoftRL and PyTorch measured alternately this many times, the best figure of each kept.
    public var rounds = 1
    /// Only SoftRL's decode (no roofline, training or PyTorch).
    public var decodeOnly = false
    /// Skip the bf16 rows (bf16-stored weights, bf16 products, PyTorch's bf16 autocast).
    public var noBF16 = false
    /// Prompts, and tokens per prompt, of the prefill measurement (bf16 rows).
    public var prefillBatch = 8
    public var prefillLength = 64
    /// A line saying which generation precision `--compute` set (printed before a decode-only run).
    public var computeLine: String?
    /// Where progress lines go.
    public var output: (String) -> Void = { print($0) }

    public init() {}

    /// The whole benchmark for these presets and decode batch sizes: the report `--json` prints.
    public func run(presets: [String], batches: [Int]) throws -> [String: Any] {
        BLASThreads.set(threads)
        let kernel = BLASKernel.current
        say("CPU: \(CPUFeatures.modelName); \(kernel.summary)")
        var report: [String: Any] = [
            "threads": threads, "blas_threads": BLASThreads.current,
            "cpu": CPUFeatures.modelName, "blas_kernel": kernel.metadata
        ]
        var presetReports: [[String: Any]] = []
        for name in presets {
            let r = try benchPreset(name, batches: batches)
            presetReports.append(r)
        }
        report["presets"] = presetReports
        return report
    }

    func say(_ s: String) { if !json { output(s) } }

    /// The big preset trains on a smaller batch for fewer steps, so one run stays within minutes on 2 cores.
    func trainBatch(_ name: String) -> Int { batch ?? (name == "smollm2" ? 4 : 16) }

    func benchPreset(_ name: String, batches: [Int]) throws -> [String: Any] {
        let config = try LlamaConfig.preset(name)
        let batch = trainBatch(name)
        let big = name == "smollm2"
        let model = try LlamaModel(config: config, seed: 0)
        if decodeOnly {
            if let computeLine { say(computeLine) }
            return decodeOnlyReport(name, model: model, batches: batches)
        }
        say(
            "== \(name): \(model.parameterCount) parameters (d=\(config.hiddenSize) ff=\(config.intermediateSize) L=\(config.numHiddenLayers) H=\(config.numAttentionHeads)/\(config.numKeyValueHeads) V=\(config.vocabSize)), \(threads) thread(s)"
        )
        var best: Round?
        var torchBest: [String: Any]?
        var torchSkipped: String?
        // Per round: training's share of that round's roofline, and SoftRL/PyTorch of that round (the spread a shared
        // machine gives; the best-of figures below can pair a quiet moment of one side with a busy one of the other).
        var roundShares: [Double] = []
        var roundRatios: [String: [Double]] = [:]
        for round in 1...rounds {
            if rounds > 1 { say("-- round \(round) of \(rounds)") }
            let m = measure(model: model, config: config, batch: batch, batches: batches, big: big)
            roundShares.append(m.train.gflops / m.roofline)
            if let b = best {
                best = Round(
                    square: m.square.gflops > b.square.gflops ? m.square : b.square,
                    typical: m.typical.gflops > b.typical.gflops ? m.typical : b.typical,
                    ownPeak: Self.larger(m.ownPeak, b.ownPeak),
                    train: m.train.tokensPerSecond > b.train.tokensPerSecond ? m.train : b.train,
                    decodes: zip(m.decodes, b.decodes).map { $0.tokensPerSecond > $1.tokensPerSecond ? $0 : $1 }
                )
            } else {
                best = m
            }
            if noTorch { continue }
            switch runTorch(preset: name, batch: batch, batches: batches) {
            case .skipped(let why): torchSkipped = why
            case .result(let t):
                torchBest = torchBest.map { Self.bestOf($0, t) } ?? t
                if rounds > 1 { say("pytorch round \(round): " + Self.torchLine(t)) }
                for (key, ratio) in Self.ratios(train: m.train, decodes: m.decodes, torch: t) {
                    roundRatios[key, default: []].append(ratio)
                }
            }
            if torchSkipped != nil { break }
        }
        let b = best!
        let (square, typical, train, decodes) = (b.square, b.typical, b.train, b.decodes)
        let roofline = b.roofline
        let share = train.gflops / roofline
        func list(_ xs: [Double], _ f: String) -> String { xs.map { String(format: f, $0) }.joined(separator: " ") }
        if rounds > 1 {
            say(
                String(
                    format: "best of %d rounds: roofline %.1f GFLOP/s; train %.0f tokens/s, %.1f GFLOP/s = %.0f%% of it",
                    rounds,
                    roofline, train.tokensPerSecond, train.gflops, 100 * share))
            for d in decodes {
                say(
                    String(
                        format: "best of %d rounds: decode batch %3d: %.0f tokens/s", rounds, d.batch, d.tokensPerSecond
                    ))
            }
            say("per round: train % of that round's roofline [" + list(roundShares.map { 100 * $0 }, "%.0f") + "]")
        }
        let keys = ["train"] + decodes.map({ "decode_\($0.batch)" })
        for key in keys + keys.map({ "cpu_" + $0 }) {
            guard let r = roundRatios[key] else { continue }
            say(
                "per round: SoftRL/PyTorch \(key.hasPrefix("cpu_") ? "by CPU time " + key.dropFirst(4) : key) ["
                    + list(r, "%.2f") + "]")
        }
        var out: [String: Any] = [
            "preset": name, "params": model.parameterCount, "rounds": rounds,
            "round_roofline_shares": roundShares, "round_ratios": roundRatios,
            "sgemm": [
                ["m": square.m, "n": square.n, "k": square.k, "gflops": square.gflops],
                ["m": typical.m, "n": typical.n, "k": typical.k, "gflops": typical.gflops]
            ],
            "roofline_gflops": roofline, "roofline_source": b.rooflineSource,
            "train": [
                "batch": train.batch, "seq": train.seq, "steps": train.steps, "tokens_per_s": train.tokensPerSecond,
                "step_ms": train.stepMilliseconds, "forward_ms": train.forwardMs, "loss_ms": train.lossMs,
                "backward_ms": train.backwardMs, "optimizer_ms": train.optimizerMs,
                "flops_per_step": train.flopsPerStep, "gflops": train.gflops, "roofline_share": share
            ],
            "decode": decodes.map {
                [
                    "batch": $0.batch, "new_tokens": $0.newTokens, "prompt": $0.promptLength, "seconds": $0.seconds,
                    "cpu_seconds": $0.cpuSeconds, "tokens_per_s": $0.tokensPerSecond
                ]
            }
        ]
        let packMs = ModelBenchmark.decodePackingMilliseconds(model: model)
        out["decode_pack_ms"] = packMs
        say(
            packMs.isNaN
                ? "decode weights: not packed (portable SIMD path: OpenBLAS on the unpacked weights)"
                : String(
                    format:
                        "decode weights packed in %.2f ms, once per generation (beside %.2f ms per batch-%d decode run)",
                    packMs, 1000 * (decodes.last?.seconds ?? .nan), decodes.last?.batch ?? 0))
        if !noBF16 { out["bf16"] = bf16Rows(model: model, batches: batches, torch: torchBest, f32Peak: b.ownPeak) }
        if noTorch { say("pytorch: skipped (--no-torch)"); return out }
        if let why = torchSkipped {
            say("pytorch: skipped — \(why)")
            out["torch"] = ["skipped": why]
            return out
        }
        let t = torchBest!
        out["torch"] = t
        let tTrain = ((t["train"] as? [String: Any])?["tokens_per_s"] as? Double) ?? .nan
        say(
            String(
                format: "pytorch %@ train: %.0f tokens/s -> SoftRL/PyTorch %.2fx", (t["torch"] as? String) ?? "?",
                tTrain,
                train.tokensPerSecond / tTrain))
        let ratios = Self.ratios(train: train, decodes: decodes, torch: t)
        let tDecode = (t["decode"] as? [[String: Any]]) ?? []
        for d in decodes {
            guard let td = tDecode.first(where: { ($0["batch"] as? Int) == d.batch }),
                let tps = td["tokens_per_s"] as? Double
            else { continue }
            say(
                String(
                    format: "pytorch decode batch %3d: %.0f tokens/s -> SoftRL/PyTorch %.2fx", d.batch, tps,
                    d.tokensPerSecond / tps))
        }
        out["ratios"] = ratios
        return out
    }

    /// SoftRL/PyTorch for training ("train") and each decode batch ("decode_B") present on both sides, by wall time;
    /// and by CPU time ("cpu_train", "cpu_decode_B": the same work's CPU seconds, PyTorch's over SoftRL's), which a
    /// shared machine's load moves much less.
    /// The bf16 rows, each beside SoftRL's fp32 measured just before it (same batch, same moment of the machine's load):
    /// the packed kernels' own compute roofline per precision; decode at each batch with bf16-stored weights (the model's
    /// weights rounded to bf16, as an actor on --wire-weights bf16 holds them; fp32 products) and with bf16 products;
    /// prefill in fp32 and bf16 products; PyTorch's bf16 autocast figures when it ran.
    /// `f32Peak` is the fp32 packed-kernel peak `measure` took (the training line's roofline), not measured again.
    func bf16Rows(model: LlamaModel, batches: [Int], torch: [String: Any]?, f32Peak: Double?) -> [String: Any] {
        let savedCompute = GenerationCompute.active
        defer { GenerationCompute.active = savedCompute }
        var out: [String: Any] = [:]
        var roof: [String: Double] = [:]
        if let f32Peak { roof[PackedGEMM.PanelFormat.f32.rawValue] = f32Peak }
        for f in [PackedGEMM.PanelFormat.bf16Weights, .bf16Products] {
            if let g = ModelBenchmark.packedRooflineGFLOPS(f) { roof[f.rawValue] = g }
        }
        out["packed_roofline_gflops"] = roof
        func gf(_ k: String) -> String { roof[k].map { String(format: "%.1f", $0) } ?? "n/a" }
        say(
            "SoftRL packed-kernel roofline (64x256x512, panels in cache): fp32 \(gf("f32")), bf16 weights \(gf("bf16-weights")), "
                + "bf16 products \(gf("bf16-products")) GFLOP/s")
        guard PackedGEMM.active != nil, PackedGEMM.bf16Weights != nil else {
            say(
                "bf16 rows: skipped (SIMD path \(SIMDPath.active), \(CPUFeatures.host.shortDescription): bf16 panels need AVX-512)"
            )
            out["skipped"] = "no AVX-512 path"
            return out
        }
        // The same weights rounded to bf16 in a second model (what an actor on --wire-weights bf16 holds).
        guard let rounded = try? LlamaModel(config: model.config, seed: 0) else { return out }
        for i in 0..<model.weights.count { rounded.weights[i] = BFloat16.decode(BFloat16.encode(model.weights[i])) }
        let hasProducts = PackedGEMM.bf16Products != nil
        let tDecode = (torch?["decode_bf16"] as? [[String: Any]]) ?? []
        var rows: [[String: Any]] = []
        for b in batches {
            GenerationCompute.active = .f32
            let f = ModelBenchmark.measureDecode(model: model, batch: b, promptLength: prompt, newTokens: decodeTokens)
            let w = ModelBenchmark.measureDecode(
                model: rounded, batch: b, promptLength: prompt, newTokens: decodeTokens)
            var row: [String: Any] = [
                "batch": b, "f32_tokens_per_s": f.tokensPerSecond, "bf16_weights_tokens_per_s": w.tokensPerSecond,
                "bf16_weights_format": ModelBenchmark.generationFormat(model: rounded, compute: .f32).rawValue
            ]
            // Ratios by wall time and, in brackets, by this thread's CPU time (what a loaded machine moves less).
            var line = String(
                format: "decode batch %3d: fp32 %.0f tokens/s | bf16 weights %.0f (%.2fx [%.2fx CPU])", b,
                f.tokensPerSecond,
                w.tokensPerSecond, w.tokensPerSecond / f.tokensPerSecond, f.cpuSeconds / w.cpuSeconds)
            row["f32_cpu_seconds"] = f.cpuSeconds; row["bf16_weights_cpu_seconds"] = w.cpuSeconds
            var best = w.tokensPerSecond
            if hasProducts {
                GenerationCompute.active = .bf16
                let p = ModelBenchmark.measureDecode(
                    model: model, batch: b, promptLength: prompt, newTokens: decodeTokens)
                row["bf16_products_tokens_per_s"] = p.tokensPerSecond; row["bf16_products_cpu_seconds"] = p.cpuSeconds
                line += String(
                    format: " | bf16 products %.0f (%.2fx [%.2fx CPU])", p.tokensPerSecond,
                    p.tokensPerSecond / f.tokensPerSecond,
                    f.cpuSeconds / p.cpuSeconds)
                best = max(best, p.tokensPerSecond)
            }
            if let td = tDecode.first(where: { ($0["batch"] as? Int) == b }), let tps = td["tokens_per_s"] as? Double {
                row["torch_bf16_tokens_per_s"] = tps
                line += String(format: " | pytorch bf16 autocast %.0f (SoftRL bf16 best %.2fx)", tps, best / tps)
                if let c = td["cpu_seconds"] as? Double {
                    row["torch_bf16_cpu_seconds"] = c
                    line += String(
                        format: " [%.2fx CPU]",
                        c / min(w.cpuSeconds, (row["bf16_products_cpu_seconds"] as? Double) ?? .infinity))
                }
            }
            say(line)
            rows.append(row)
        }
        out["decode"] = rows
        GenerationCompute.active = .f32
        let pf = ModelBenchmark.measurePrefill(model: model, batch: prefillBatch, promptLength: prefillLength)
        var prefillRow: [String: Any] = [
            "batch": prefillBatch, "prompt": prefillLength, "f32_tokens_per_s": pf.tokensPerSecond
        ]
        var line = String(
            format: "prefill %d x %d: fp32 %.0f tokens/s", prefillBatch, prefillLength, pf.tokensPerSecond)
        if hasProducts {
            GenerationCompute.active = .bf16
            let pb = ModelBenchmark.measurePrefill(model: model, batch: prefillBatch, promptLength: prefillLength)
            prefillRow["bf16_products_tokens_per_s"] = pb.tokensPerSecond
            line += String(
                format: " | bf16 products %.0f (%.2fx)", pb.tokensPerSecond, pb.tokensPerSecond / pf.tokensPerSecond)
        }
        for (key, name) in [("prefill", "pytorch fp32"), ("prefill_bf16", "pytorch bf16 autocast")] {
            if let t = torch?[key] as? [String: Any], let tps = t["tokens_per_s"] as? Double {
                prefillRow["torch_" + key + "_tokens_per_s"] = tps
                line += String(format: " | %@ %.0f", name, tps)
            }
        }
        say(line)
        out["prefill"] = prefillRow
        return out
    }

    /// SoftRL/PyTorch for training ("train") and each decode batch ("decode_B") present on both sides, by wall time;
    /// and by CPU time ("cpu_train", "cpu_decode_B"), which a shared machine's load moves much less.
    static func ratios(
        train: ModelBenchmark.TrainingResult, decodes: [ModelBenchmark.DecodeResult], torch t: [String: Any]
    ) -> [String: Double] {
        var out: [String: Double] = [:]
        let tt = t["train"] as? [String: Any]
        if let tTrain = tt?["tokens_per_s"] as? Double { out["train"] = train.tokensPerSecond / tTrain }
        if let tps = tt?["tokens_per_s"] as? Double, let s = tt?["seconds"] as? Double,
            let c = tt?["cpu_seconds"] as? Double, c > 0
        {
            out["cpu_train"] = train.tokensPerCPUSecond / (tps * s / c)
        }
        let tDecode = (t["decode"] as? [[String: Any]]) ?? []
        for d in decodes {
            guard let td = tDecode.first(where: { ($0["batch"] as? Int) == d.batch }),
                let tps = td["tokens_per_s"] as? Double
            else { continue }
            out["decode_\(d.batch)"] = d.tokensPerSecond / tps
            if let c = td["cpu_seconds"] as? Double, d.cpuSeconds > 0 {
                out["cpu_decode_\(d.batch)"] = c / d.cpuSeconds
            }
        }
        return out
    }

    /// `--decode-only`: decode at each batch size, `rounds` times, nothing else.
    func decodeOnlyReport(_ name: String, model: LlamaModel, batches: [Int]) -> [String: Any] {
        say("== \(name): decode only, \(rounds) round(s)")
        var all: [[String: Any]] = []
        for _ in 1...rounds {
            for b in batches {
                let d = ModelBenchmark.measureDecode(
                    model: model, batch: b, promptLength: prompt, newTokens: decodeTokens)
                say(Self.decodeLine(d))
                all.append([
                    "batch": d.batch, "seconds": d.seconds, "cpu_seconds": d.cpuSeconds,
                    "tokens_per_s": d.tokensPerSecond
                ])
            }
        }
        return ["preset": name, "decode": all]
    }

    static func decodeLine(_ d: ModelBenchmark.DecodeResult) -> String {
        String(
            format: "decode batch %3d: %.0f tokens/s (prompt %d, %d new tokens, %.1f ms/run, %.1f ms CPU/run)",
            d.batch, d.tokensPerSecond, d.promptLength, d.newTokens, 1000 * d.seconds, 1000 * d.cpuSeconds)
    }

    /// One round's measurements. The roofline is the fp32 peak of SoftRL's own packed kernel (the kernel training's
    /// activation-side products run on), so it says what this CPU can do whatever kernel OpenBLAS runs; OpenBLAS's
    /// sgemm is measured beside it. Without a packed kernel (portable SIMD path) the roofline is OpenBLAS's sgemm.
    struct Round {
        var square: ModelBenchmark.SgemmResult, typical: ModelBenchmark.SgemmResult
        var ownPeak: Double?
        var train: ModelBenchmark.TrainingResult
        var decodes: [ModelBenchmark.DecodeResult]
        var roofline: Double { ownPeak ?? max(square.gflops, typical.gflops) }
        var rooflineSource: String {
            ownPeak == nil ? "openblas sgemm (no packed kernel on this SIMD path)" : "softrl packed fp32 kernel"
        }
    }

    static func larger(_ a: Double?, _ b: Double?) -> Double? {
        guard let a else { return b }
        return max(a, b ?? a)
    }

    /// One round of SoftRL's measurements: roofline, training, decode at each batch size.
    func measure(model: LlamaModel, config: LlamaConfig, batch: Int, batches: [Int], big: Bool) -> Round {
        // OpenBLAS beside the roofline: a big square product and the model's most common shape (tokens x hidden ->
        // intermediate).
        let square = ModelBenchmark.sgemmGFLOPS(m: 1024, n: 1024, k: 1024)
        let typical = ModelBenchmark.sgemmGFLOPS(m: batch * seq, n: config.intermediateSize, k: config.hiddenSize)
        let ownPeak = ModelBenchmark.packedRooflineGFLOPS(.f32)
        let roofline = ownPeak ?? max(square.gflops, typical.gflops)
        let sgemmPart = String(
            format: "OpenBLAS %@ sgemm %.1f GFLOP/s at 1024^3, %.1f at %dx%dx%d (m x n x k)", BLASKernel.activeCoreName,
            square.gflops, typical.gflops, typical.m, typical.n, typical.k)
        if let ownPeak {
            say(
                String(
                    format: "roofline: SoftRL's fp32 packed kernel %.1f GFLOP/s (64x256x512, panels in cache); ",
                    ownPeak) + sgemmPart + String(format: " = %.2fx of it", max(square.gflops, typical.gflops) / ownPeak))
        } else {
            say("roofline: " + sgemmPart + " (no packed kernel on SIMD path \(SIMDPath.active))")
        }

        // Training: forward + cross-entropy + backward + AdamW. Like bench_torch.py's torch.optim.AdamW defaults,
        // weight decay 0.01 applies to every parameter (no mask, so the update loop vectorises).
        let adam = AdamW(
            parameterCount: model.parameterCount,
            config: AdamWConfig(lr: 1e-4, beta1: 0.9, beta2: 0.999, weightDecay: 0.01))
        let train = ModelBenchmark.measureTraining(
            model: model, batch: batch, seq: seq, warmup: big ? 1 : 2, minSteps: big ? 3 : 5,
            minSeconds: big ? 0 : trainSeconds
        ) { w, g in
            adam.update(parameters: w.buffer, gradients: UnsafeBufferPointer(g.buffer), learningRate: 1e-4)
        }
        let share = train.gflops / roofline
        say(
            String(
                format:
                    "train B%d x T%d: %.0f tokens/s, %.1f ms/step (forward %.1f, loss %.1f, backward %.1f, AdamW %.1f), %.1f GFLOP/s = %.0f%% of roofline (%.2f GFLOP/step)",
                train.batch, train.seq, train.tokensPerSecond, train.stepMilliseconds, train.forwardMs, train.lossMs,
                train.backwardMs, train.optimizerMs, train.gflops, 100 * share, train.flopsPerStep / 1e9))
        var decodes: [ModelBenchmark.DecodeResult] = []
        for b in batches {
            let d = ModelBenchmark.measureDecode(model: model, batch: b, promptLength: prompt, newTokens: decodeTokens)
            decodes.append(d)
            say(Self.decodeLine(d))
        }
        return Round(square: square, typical: typical, ownPeak: ownPeak, train: train, decodes: decodes)
    }

    /// The better of two bench_torch.py results: the higher training and per-batch decode tokens/s.
    static func bestOf(_ a: [String: Any], _ b: [String: Any]) -> [String: Any] {
        func tps(_ o: Any?) -> Double { ((o as? [String: Any])?["tokens_per_s"] as? Double) ?? -1 }
        var out = a
        if tps(b["train"]) > tps(a["train"]) { out["train"] = b["train"] }
        let da = (a["decode"] as? [[String: Any]]) ?? [], db = (b["decode"] as? [[String: Any]]) ?? []
        out["decode"] = da.map { x -> [String: Any] in
            guard let y = db.first(where: { ($0["batch"] as? Int) == (x["batch"] as? Int) }) else { return x }
            return tps(y) > tps(x) ? y : x
        }
        return out
    }

    static func torchLine(_ t: [String: Any]) -> String {
        func tps(_ o: Any?) -> Double { ((o as? [String: Any])?["tokens_per_s"] as? Double) ?? .nan }
        let dec = ((t["decode"] as? [[String: Any]]) ?? []).map {
            String(format: "b%d %.0f", ($0["batch"] as? Int) ?? 0, tps($0))
        }
        return String(format: "train %.0f tokens/s; decode ", tps(t["train"])) + dec.joined(separator: ", ")
    }

    enum TorchOutcome { case skipped(String), result([String: Any]) }

    /// Runs bench_torch.py with the reference Python (TensorMath.ReferencePython) of the repository root, found by
    /// walking up from the current directory and from this executable until scripts/reference/bench_torch.py appears.
    func runTorch(preset: String, batch: Int, batches: [Int]) -> TorchOutcome {
        let fm = FileManager.default
        var roots: [URL] = []
        for start in [
            URL(fileURLWithPath: fm.currentDirectoryPath),
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        ] {
            var dir = start.standardizedFileURL
            for _ in 0..<8 {
                if fm.fileExists(atPath: dir.appendingPathComponent("scripts/reference/bench_torch.py").path) {
                    roots.append(dir); break
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        guard let root = roots.first else {
            return .skipped("scripts/reference/bench_torch.py not found: run from the repository")
        }
        let script = root.appendingPathComponent("scripts/reference/bench_torch.py").path
        let python: String
        switch ReferencePython.find(
            repositoryRoot: root, importing: ["torch", "transformers"],
            packages: "\"torch==2.13.0+cpu\" transformers")
        {
        case .success(let p): python = p
        case .failure(let why): return .skipped(why.description)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments =
            [
                script, "--preset", preset, "--threads", "\(threads)", "--json", "--batch", "\(batch)", "--seq",
                "\(seq)",
                "--decode-batches", batches.map(String.init).joined(separator: ","), "--decode-tokens",
                "\(decodeTokens)",
                "--prompt", "\(prompt)"
            ] + (noBF16 ? [] : ["--bf16", "--prefill-batch", "\(prefillBatch)", "--prefill-len", "\(prefillLength)"])
            + (preset == "smollm2" ? ["--steps", "3", "--warmup", "1", "--decode-repeats", "1"] : [])
        var env = ProcessInfo.processInfo.environment
        env["OMP_NUM_THREADS"] = "\(threads)"
        p.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        p.standardOutput = outPipe; p.standardError = errPipe
        do { try p.run() } catch { return .skipped("could not run \(python): \(error)") }
        let data = outPipe.fileHandleForReading.readDataToEndOfFile()
        let err = errPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let last = String(decoding: err, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            return .skipped("bench_torch.py exited with \(p.terminationStatus): \(last)")
        }
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            return .skipped("bench_torch.py printed no JSON")
        }
        if let why = obj["skipped"] as? String { return .skipped(why) }
        return .result(obj)
    }
}
