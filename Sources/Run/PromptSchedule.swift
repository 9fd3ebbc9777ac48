// The order in which training prompts are visited: a seeded permutation of the train split, walked by a cursor
// that a checkpoint saves, so a resumed run neither skips nor repeats a prompt. Epochs reshuffle.
import Foundation
import TensorMath

public struct PromptSchedule: Codable, Sendable, Equatable {
    public let count: Int
    public let seed: UInt64
    /// Prompts handed out so far (across epochs).
    public private(set) var cursor: Int

    public init(count: Int, seed: UInt64, cursor: Int = 0) {
        precondition(count > 0, "the train split is empty")
        self.count = count; self.seed = seed; self.cursor = cursor
    }

    /// The prompt index at absolute position `k` of the schedule.
    public func index(at k: Int) -> Int {
        let epoch = k / count, offset = k % count
        return permutation(epoch: epoch)[offset]
    }

    public mutating func next() -> Int {
        defer { cursor += 1 }
        return index(at: cursor)
    }

    private func permutation(epoch: Int) -> [Int] {
        // Fisher-Yates with a stream per epoch; recomputed on demand (train splits here are <= 100k).
        if let cached = PermutationCache.shared.get(seed: seed, epoch: epoch, count: count) { return cached }
        var rng = Xoshiro256(seed: seed, stream: UInt64(epoch) &+ 0x5eed)
        var p = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            p.swapAt(i, j)
        }
        PermutationCache.shared.put(seed: seed, epoch: epoch, count: count, p)
        return p
    }
}

/// Keeps the last permutation: consecutive calls stay in one epoch.
final class PermutationCache: @unchecked Sendable {
    static let shared = PermutationCache()
    private let lock = NSLock()
    private var key: (UInt64, Int, Int)? = nil
    private var value: [Int] = []
    func get(seed: UInt64, epoch: Int, count: Int) -> [Int]? {
        lock.lock(); defer { lock.unlock() }
        if let k = key, k == (seed, epoch, count) { return value }
        return nil
    }
    func put(seed: UInt64, epoch: Int, count: Int, _ v: [Int]) {
        lock.lock(); defer { lock.unlock() }
        key = (seed, epoch, count); value = v
    }
}

/// The seed of a group's random streams (sample i uses stream i): a function of the run seed and the schedule
/// position only, so a rollout is the same whichever actor, batch or process generates it. The one seed rule:
/// `softrl train`, the learner (which puts it in every WorkItem) and evaluation (position = problem index) use it.
public enum GroupSeed {
    public static func of(runSeed: UInt64, position: Int) -> UInt64 {
        var rng = Xoshiro256(seed: runSeed, stream: UInt64(truncatingIfNeeded: position))
        return rng.next()
    }
}
