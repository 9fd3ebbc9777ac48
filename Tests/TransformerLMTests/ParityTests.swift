// Parity with an independent implementation: Hugging Face transformers' LlamaForCausalLM produced the fixture
// (scripts/reference/make_fixtures.py): logits, the gradient of every parameter and of the input vectors for
// sum(logits * dlogits). Prints the maximum difference per tensor, as llm.c's test_gpt2.c does.
import XCTest
import Foundation
import TensorMath
@testable import TransformerLM

final class ParityTests: XCTestCase {
    var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }

    struct Scenario {
        let batch: [ModelInput]
        let tensors: [String: SafeTensor]
    }

    func scenario(hidden: Int) throws -> Scenario {
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("parity.json")))
            as! [String: Any]
        let (tensors, _) = try SafeTensorsFile.read(fixtures.appendingPathComponent("parity.safetensors"))
        var batch: [ModelInput] = []
        for (i, s) in (json["sequences"] as! [[String: Any]]).enumerated() {
            var tokens = (s["tokens"] as! [Int]).map(Int32.init)
            for p in s["vector_positions"] as! [Int] { tokens[p] = ModelInput.vectorSlot }
            batch.append(ModelInput(tokens: tokens, vectors: tensors["seq\(i).vectors"]?.values ?? []))
        }
        return Scenario(batch: batch, tensors: tensors)
    }

    func maxDiff(_ a: UnsafePointer<Float>, _ b: [Float]) -> Float {
        var m: Float = 0
        for i in 0..<b.count { m = max(m, abs(a[i] - b[i])) }
        return m
    }

    func testLogitsAndGradientsMatchTransformers() throws {
        let model = try ModelCheckpoint.load(directory: fixtures.appendingPathComponent("tiny_llama"))
        let s = try scenario(hidden: model.config.hiddenSize)
        let pass = model.forward(s.batch)
        let V = model.config.vocabSize
        let dLogits = FloatBuffer(count: pass.totalRows * V)
        for i in 0..<s.batch.count {
            let ref = s.tensors["seq\(i).logits"]!.values
            let diff = maxDiff(pass.logits(sequence: i, position: 0), ref)
            print(String(format: "seq%d.logits            max|diff| %.3e", i, diff))
            XCTAssertLessThan(diff, 1e-4)
            let dl = s.tensors["seq\(i).dlogits"]!.values
            dl.withUnsafeBufferPointer {
                (dLogits.pointer + pass.rowOffsets[i] * V).update(from: $0.baseAddress!, count: dl.count)
            }
        }
        let grads = model.makeGradients()
        let vg = pass.backward(dLogits: dLogits.pointer, gradients: grads)
        for e in model.layout.entries {
            let ref = s.tensors["grad.\(e.name)"]!.values
            let scale = max(1, ref.map { abs($0) }.max()!)
            let diff = maxDiff(grads.pointer + e.offset, ref)
            print(String(format: "grad %-45@ max|diff| %.3e (max|g| %.2f)", e.name, diff, scale))
            XCTAssertLessThan(diff / scale, 1e-4, e.name)
        }
        let refVG = s.tensors["seq0.grad_vectors"]!.values
        let vdiff = vg[0].withUnsafeBufferPointer { maxDiff($0.baseAddress!, refVG) }
        print(String(format: "seq0.grad_vectors        max|diff| %.3e", vdiff))
        XCTAssertLessThan(vdiff, 1e-4)
    }

    func testHalfPrecisionAndTiedCheckpointsMatchTransformers() throws {
        let s = try scenario(hidden: 32)
        for (dir, key) in [
            ("tiny_llama_bf16", "bf16.seq1.logits"), ("tiny_llama_fp16", "fp16.seq1.logits"),
            ("tiny_llama_tied", "tied.seq1.logits")
        ] {
            let model = try ModelCheckpoint.load(directory: fixtures.appendingPathComponent(dir))
            let pass = model.forward([s.batch[1]])
            let diff = maxDiff(pass.logits(sequence: 0, position: 0), s.tensors[key]!.values)
            print(String(format: "%-18@ max|diff| %.3e", dir, diff))
            XCTAssertLessThan(diff, 1e-4, dir)
        }
    }
}
