// Reproducible randomness for task generation: SplitMix64 draws, a Fisher-Yates shuffle
// and a stable string hash. Deliberately not the standard library's shuffle or Hasher, whose
// algorithms or per-process seeds may change, which would silently move problems between splits.
import Foundation
import TensorMath

/// The tasks' draws from TensorMath's SplitMix64, with algorithms SoftRL controls.
extension SplitMix64 {
    /// Uniform in 0..<bound by rejection (no modulo bias), with an algorithm we control.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let b = UInt64(bound)
        let limit = UInt64.max - UInt64.max % b
        while true {
            let r = next()
            if r < limit { return Int(r % b) }
        }
    }

    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, below(i + 1))
        }
    }
}

/// Small integer tags so each generator's seeds differ even for equal user seeds.
enum SeedTag: UInt64 {
    case mnnsSplit = 1, reachInstance = 2, arithSplit = 3
}

extension Split {
    var seedTag: UInt64 { self == .train ? 0x7472_6169_6E : 0x7465_7374 }
}

/// FNV-1a over UTF-8, then mixed: a process-independent hash for canonical problem strings.
func stableHash(_ text: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 {
        h ^= UInt64(byte)
        h &*= 0x0000_0100_0000_01B3
    }
    return SplitMix64.mix(h)
}

/// A fixed-seed permutation of 0..<total: the first `testCount` entries are the test split, the rest train.
/// Used by tasks small enough to enumerate, so the two splits are disjoint by construction.
struct EnumeratedSplit: Sendable {
    let order: [Int32]
    let testCount: Int

    init(total: Int, testCount: Int, seed: UInt64) {
        precondition(total <= Int(Int32.max) && testCount < total)
        var order = (0..<total).map { Int32($0) }
        var rng = SplitMix64(seed: seed)
        rng.shuffle(&order)
        self.order = order
        self.testCount = testCount
    }

    /// A task's split: the default test share of its `total` instances, shuffled by a seed derived from the task's
    /// tag, the run's task seed and the digit count (so each setting of a task has its own fixed split).
    init(total: Int, tag: SeedTag, taskSeed: UInt64, digits: Int) {
        self.init(
            total: total, testCount: Self.defaultTestCount(total: total),
            seed: SplitMix64.derivedSeed(tag.rawValue, taskSeed, UInt64(digits)))
    }

    func count(_ split: Split) -> Int { split == .test ? testCount : order.count - testCount }

    /// The enumeration index behind `index` of `split`.
    func instance(_ split: Split, _ index: Int) -> Int {
        precondition(
            index >= 0 && index < count(split),
            "problem index \(index) is outside 0..<\(count(split)) for the \(split.rawValue) split")
        return Int(order[split == .test ? index : testCount + index])
    }

    /// 500 as in the brief, but never more than a tenth of a small instance space.
    static func defaultTestCount(total: Int) -> Int { max(1, min(500, total / 10)) }
}
