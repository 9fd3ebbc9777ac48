// Tests for group advantages and DAPO group filters, against slow references written like the math.

import XCTest
import PolicyGradient

final class AdvantageTests: XCTestCase {
    // MARK: slow references, one loop per symbol in the formulas

    /// A_i = r_i − (1/(G−1)) Σ_{j≠i} r_j
    private func rlooReference(_ r: [Double]) -> [Double] {
        (0..<r.count).map { i in
            var s = 0.0
            for j in 0..<r.count where j != i { s += r[j] }
            return r[i] - s / Double(r.count - 1)
        }
    }

    /// A_i = (r_i − μ) / (σ + ε), σ² = (1/G) Σ (r_j − μ)²
    private func grpoReference(_ r: [Double], eps: Double) -> [Double] {
        var mu = 0.0
        for x in r { mu += x }
        mu /= Double(r.count)
        var v = 0.0
        for x in r { v += (x - mu) * (x - mu) }
        let sigma = (v / Double(r.count)).squareRoot()
        return r.map { ($0 - mu) / (sigma + eps) }
    }

    private func drgrpoReference(_ r: [Double]) -> [Double] {
        var mu = 0.0
        for x in r { mu += x }
        mu /= Double(r.count)
        return r.map { $0 - mu }
    }

    private func assertClose(
        _ a: [Double], _ b: [Double], tol: Double = 1e-12, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: tol, file: file, line: line) }
    }

    private let groups: [[Double]] = [
        [1, 0, 0, 1, 1, 0, 0, 0],
        [0.3, -1.2, 2.5, 0.0],
        [5, 7],
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]
    ]

    func testRLOOMatchesLeaveOneOutReference() {
        for r in groups { assertClose(computeAdvantages(rewards: r, estimator: .rloo), rlooReference(r)) }
    }

    func testGRPOMatchesStdNormalisedReference() {
        for r in groups {
            assertClose(computeAdvantages(rewards: r, estimator: .grpo, stdEpsilon: 1e-6), grpoReference(r, eps: 1e-6))
            assertClose(computeAdvantages(rewards: r, estimator: .grpo, stdEpsilon: 0.5), grpoReference(r, eps: 0.5))
        }
    }

    func testDrGRPOMatchesMeanCentredReference() {
        for r in groups { assertClose(computeAdvantages(rewards: r, estimator: .drgrpo), drgrpoReference(r)) }
    }

    func testEqualRewardsGiveZeroAdvantage() {
        for estimator in AdvantageEstimator.allCases {
            for value in [0.0, 1.0, -3.5] {
                let a = computeAdvantages(rewards: [Double](repeating: value, count: 6), estimator: estimator)
                XCTAssertEqual(a, [Double](repeating: 0, count: 6), "\(estimator)")
            }
        }
    }

    func testSingleRolloutGroupGivesZeroAdvantage() {
        for estimator in AdvantageEstimator.allCases {
            XCTAssertEqual(computeAdvantages(rewards: [1.0], estimator: estimator), [0.0])
            XCTAssertEqual(computeAdvantages(rewards: [], estimator: estimator), [])
        }
    }

    func testRLOOOfTwoSamplesIsRewardDifference() {
        XCTAssertEqual(computeAdvantages(rewards: [1, 0], estimator: .rloo), [1, -1])
        XCTAssertEqual(computeAdvantages(rewards: [0.25, 2], estimator: .rloo), [-1.75, 1.75])
    }

    func testRLOOIsDrGRPOScaledByGOverGMinusOne() {
        // r_i − (S − r_i)/(G−1) = G/(G−1)·(r_i − S/G)
        for r in groups {
            let g = Double(r.count)
            assertClose(
                computeAdvantages(rewards: r, estimator: .rloo),
                computeAdvantages(rewards: r, estimator: .drgrpo).map { $0 * g / (g - 1) })
        }
    }

    func testGRPOAdvantagesHaveZeroMeanAndUnitPopulationStd() {
        let a = computeAdvantages(rewards: [1, 0, 0, 1, 1, 0, 0, 0], estimator: .grpo, stdEpsilon: 0)
        let mean = a.reduce(0, +) / Double(a.count)
        let variance = a.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(a.count)
        XCTAssertEqual(mean, 0, accuracy: 1e-12)
        XCTAssertEqual(variance, 1, accuracy: 1e-12)
    }

    func testGRPOIsScaleInvariantAndDrGRPOIsNot() {
        let r = [0.3, -1.2, 2.5, 0.0]
        let scaled = r.map { $0 * 10 }
        assertClose(
            computeAdvantages(rewards: scaled, estimator: .grpo, stdEpsilon: 0),
            computeAdvantages(rewards: r, estimator: .grpo, stdEpsilon: 0), tol: 1e-12)
        assertClose(
            computeAdvantages(rewards: scaled, estimator: .drgrpo),
            computeAdvantages(rewards: r, estimator: .drgrpo).map { $0 * 10 }, tol: 1e-12)
    }

    func testDynamicSamplingDropsGroupsWithEqualRewards() {
        XCTAssertFalse(dynamicSamplingKeep(groupRewards: [1, 1, 1, 1]))
        XCTAssertFalse(dynamicSamplingKeep(groupRewards: [0, 0]))
        XCTAssertFalse(dynamicSamplingKeep(groupRewards: [0.5]))
        XCTAssertFalse(dynamicSamplingKeep(groupRewards: []))
        XCTAssertTrue(dynamicSamplingKeep(groupRewards: [1, 1, 0, 1]))
        XCTAssertTrue(dynamicSamplingKeep(groupRewards: [0, 1e-9]))
    }

    func testSoftOverlongPenaltyPiecewise() {
        // Lmax = 20, Lcache = 4: free up to 16, linear to −1 at 20, −1 beyond.
        XCTAssertEqual(softOverlongPenalty(length: 10, maxLength: 20, cacheLength: 4), 0)
        XCTAssertEqual(softOverlongPenalty(length: 16, maxLength: 20, cacheLength: 4), 0)
        XCTAssertEqual(softOverlongPenalty(length: 17, maxLength: 20, cacheLength: 4), -0.25)
        XCTAssertEqual(softOverlongPenalty(length: 18, maxLength: 20, cacheLength: 4), -0.5)
        XCTAssertEqual(softOverlongPenalty(length: 20, maxLength: 20, cacheLength: 4), -1)
        XCTAssertEqual(softOverlongPenalty(length: 25, maxLength: 20, cacheLength: 4), -1)
    }
}
