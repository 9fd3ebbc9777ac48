// Replays the fuzz seeds and every committed input under FuzzCorpus/ (inputs libFuzzer found crashing, hanging
// or breaking an audit, each kept after its fix) through the same harness scripts/fuzz.sh drives, in the plain
// build: no sanitizer, so a regression shows up as a trap or a thrown audit finding. Also checks that the seeds
// really reach the deep paths (a learner update from valid results; an actor that installs weights and
// generates), so the fuzzer does not merely exercise the decoder.
import XCTest
import Foundation
@testable import FuzzHarness
import Cluster
import Transport
import TransformerLM

final class FuzzCorpusTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    func committedInputs(_ target: FuzzTarget) throws -> [(String, Data)] {
        let dir = Self.corpus.appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return try names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map {
            ($0, try Data(contentsOf: dir.appendingPathComponent($0)))
        }
    }

    func replay(_ target: FuzzTarget) throws {
        let run = try target.makeRunner()
        let inputs = try target.seeds() + committedInputs(target)
        XCTAssertFalse(inputs.isEmpty)
        for (name, data) in inputs {
            XCTAssertNoThrow(try run(data), "\(target.rawValue) input \(name)")
        }
    }

    func testLearnerSeedsAndRegressions() throws { try replay(.learner) }
    func testActorSeedsAndRegressions() throws { try replay(.actor) }
    func testSafeTensorsSeedsAndRegressions() throws { try replay(.safetensors) }
    func testJSONLSeedsAndRegressions() throws { try replay(.jsonl) }
    func testConfigSeedsAndRegressions() throws { try replay(.config) }
    func testTokenizerSeedsAndRegressions() throws { try replay(.tokenizer) }

    /// The seeds reach the deep paths: SoftRL's and transformers' configs are accepted (and the first loads over the
    /// harness's weights), the refused ones are refused; every family of tokenizer loads and the bad id is refused.
    func testConfigAndTokenizerSeedsReachTheirAudits() throws {
        let files = FileFuzz()
        let configs = Dictionary(uniqueKeysWithValues: try FuzzSeeds.config())
        for name in ["softrl", "tied", "head-dim", "transformers"] {
            XCTAssertTrue(try files.config(configs[name]!), name)
        }
        for name in ["zero-heads", "huge-vocab"] { XCTAssertFalse(try files.config(configs[name]!), name) }
        XCTAssertNoThrow(
            try ModelCheckpoint.model(config: FuzzSeeds.configModel, weights: FileFuzz.configWeights, path: "w"))
        let tokenizers = Dictionary(uniqueKeysWithValues: try FuzzSeeds.tokenizer())
        for name in ["smollm2-style", "llama3-style", "llama2-style", "metaspace"] {
            XCTAssertTrue(try files.tokenizer(tokenizers[name]!), name)
        }
        XCTAssertFalse(try files.tokenizer(tokenizers["added-id-negative"]!))
    }

    func testLearnerSeedTrainsOnValidResultsAndServesTheNewWeights() throws {
        let fixture = try LearnerFuzzRun.fixture()
        let session = try XCTUnwrap(try FuzzSeeds.learner(fixture).first { $0.0 == "session" }?.1)
        let run = LearnerFuzzRun(fixture)
        try run.run(session)
        XCTAssertEqual(
            run.trained.count, fixture.config.promptsPerStep,
            "the seed's results must pass validation and reach an update; log:\n\(run.logs.joined(separator: "\n"))")
        XCTAssertEqual(run.core.version, 1)
        XCTAssertEqual(run.core.malformed, 0, run.logs.joined(separator: "\n"))
        // Its three fetches of v1 were answered with the chunks themselves.
        let frames = run.sent[LearnerFuzzRun.peers[0]] ?? []
        let chunks = frames.compactMap { f -> Wire.WeightsChunk? in
            if case .weightsChunk(let c)? = try? WireCodec().decode(f).body { return c } else { return nil }
        }
        XCTAssertEqual(chunks.map(\.chunkIndex), [0, 1, 2])
    }

    func testActorSeedInstallsTheWeightsAndGenerates() throws {
        let seed = try XCTUnwrap(
            try FuzzSeeds.actor(try LearnerFuzzRun.fixture()).first { $0.0 == "learner-session" }?.1)
        let run = ActorFuzzRun()
        try run.run(seed)
        XCTAssertEqual(run.modelsPrepared, 1)
        XCTAssertEqual(run.installs, 1, run.logs.joined(separator: "\n"))
        XCTAssertEqual(run.session.modelVersion, 0)
        XCTAssertGreaterThan(run.orders, 0, run.logs.joined(separator: "\n"))
    }

    /// The audit itself: a learner that trained a position twice is caught (a stand-in run with a forged record).
    func testTheLearnerAuditCatchesAPositionTrainedTwice() throws {
        let fixture = try LearnerFuzzRun.fixture()
        let session = try XCTUnwrap(try FuzzSeeds.learner(fixture).first { $0.0 == "session" }?.1)
        let run = LearnerFuzzRun(fixture)
        try run.run(session)
        run.forgeTrained(run.trained.first!)
        XCTAssertThrowsError(try run.audit())
    }

    // MARK: Found by fuzzing: a Welcome whose model config the actor sized before checking it

    /// FuzzCorpus/actor/welcome-model-*: hidden_size 0, vocab_size -5, vocab_size 2^62 (overflow trap in
    /// ParameterLayout), 10^12 layers (a layout built for ever). Each is refused with a reason before any sizing:
    /// no prepareModel, not welcomed, and the log says what was wrong.
    func testAnActorRefusesAWelcomeWhoseModelItCannotBuild() throws {
        let inputs = try committedInputs(.actor).filter { $0.0.hasPrefix("welcome-model-") }
        XCTAssertEqual(inputs.count, 4)
        for (name, data) in inputs {
            let run = ActorFuzzRun()
            try run.run(data)
            XCTAssertEqual(run.modelsPrepared, 0, name)
            XCTAssertFalse(run.session.welcomed, name)
            XCTAssertTrue(run.logs.contains { $0.contains("cannot work for this learner") }, "\(name): \(run.logs)")
        }
    }

    /// The checked count is the layout's own count for real shapes, and nil where the layout would trap or run away.
    func testCheckedParameterCountMatchesTheLayoutAndRefusesAbsurdShapes() throws {
        for config in [LlamaConfig.tiny(vocabSize: 64), .small(vocabSize: 300), .smolLM2Shape()] {
            XCTAssertEqual(
                ParameterLayout.checkedTotalCount(config, limit: Int.max), ParameterLayout(config).totalCount)
            var untied = config; untied.tieWordEmbeddings.toggle()
            XCTAssertEqual(
                ParameterLayout.checkedTotalCount(untied, limit: Int.max), ParameterLayout(untied).totalCount)
        }
        var c = LlamaConfig.tiny(vocabSize: 64)
        let n = ParameterLayout(c).totalCount
        XCTAssertNil(ParameterLayout.checkedTotalCount(c, limit: n - 1))
        c.vocabSize = 1 << 62
        XCTAssertNil(ParameterLayout.checkedTotalCount(c, limit: Int.max))
        c = .tiny(vocabSize: 64); c.numHiddenLayers = 1_000_000_000_000
        XCTAssertNil(ParameterLayout.checkedTotalCount(c, limit: ClusterRules.maxModelParameters))
        c = .tiny(vocabSize: 64); c.hiddenSize = 0
        XCTAssertNil(ParameterLayout.checkedTotalCount(c, limit: Int.max))
        c = .tiny(vocabSize: 64); c.maxPositionEmbeddings = Int.max / 2
        XCTAssertNil(ParameterLayout.checkedTotalCount(c, limit: Int.max))
    }
}
