// The report's plots are readable by rule: tick values are round (1, 2 or 5 times a power of ten) and span the
// data, a log2 axis is labelled 1, 2, 4, ..., and smoothed curves are TensorBoard's debiased EMA, checked against
// the closed form of that average written out term by term. Also the standard error the evaluation reports.
import XCTest
import Foundation
@testable import Monitoring
import Run

final class PlotTests: XCTestCase {
    /// A reproducible stream of doubles in [0, 1) (SplitMix64).
    struct Stream {
        var state: UInt64
        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }

    /// Checks one set of ticks for [lo, hi]: equally spaced by 1, 2 or 5 x 10^k, every tick a multiple of the step,
    /// the first at or below lo, the last at or above hi, a readable count, labels that read back as the values.
    func checkRound(
        _ ticks: [Double], labels: [String]? = nil, lo: Double, hi: Double, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        XCTAssertGreaterThanOrEqual(ticks.count, 2, "ticks \(ticks) for \(lo)...\(hi)", file: file, line: line)
        guard ticks.count >= 2 else { return }
        let measured = (ticks.last! - ticks.first!) / Double(ticks.count - 1)
        let exponent = (log10(measured) + 1e-9).rounded(.down)
        let mantissa = measured / pow(10, exponent)
        let nice = [1.0, 2, 5, 10].first { abs(mantissa - $0) < 1e-6 }
        XCTAssertNotNil(nice, "step \(measured) is not 1, 2 or 5 x 10^k (ticks \(ticks))", file: file, line: line)
        let step = (nice ?? mantissa) * pow(10, exponent) // exact, to test multiples far from zero
        for (a, b) in zip(ticks, ticks.dropFirst()) {
            XCTAssertEqual(
                b - a, step, accuracy: step * 1e-6, "ticks not evenly spaced: \(ticks)", file: file, line: line)
        }
        for t in ticks {
            XCTAssertEqual(
                t / step, (t / step).rounded(), accuracy: 1e-6, "tick \(t) is not a multiple of \(step)", file: file,
                line: line)
        }
        let tolerance = step * 1e-6
        XCTAssertLessThanOrEqual(
            ticks.first!, lo + tolerance, "first tick above the data: \(ticks) for \(lo)...\(hi)", file: file,
            line: line)
        XCTAssertGreaterThanOrEqual(
            ticks.last!, hi - tolerance, "last tick below the data: \(ticks) for \(lo)...\(hi)", file: file, line: line)
        XCTAssertLessThanOrEqual(ticks.count, 12, "too many ticks: \(ticks)", file: file, line: line)
        if let labels {
            XCTAssertEqual(labels.count, ticks.count, file: file, line: line)
            for (t, s) in zip(ticks, labels) {
                let v = Double(s)
                XCTAssertNotNil(v, "label \(s) is not a number", file: file, line: line)
                XCTAssertEqual(
                    v ?? .nan, t, accuracy: tolerance + abs(t) * 1e-12, "label \(s) for tick \(t)", file: file,
                    line: line)
                XCTAssertLessThanOrEqual(s.count, 14, "label \(s) is long", file: file, line: line)
            }
            XCTAssertEqual(Set(labels).count, labels.count, "labels repeat: \(labels)", file: file, line: line)
        }
    }

    func testTickValuesAreRoundAndCoverTheData() {
        // The cases that read badly before (update 1..200 gave 50.8 / 100.5 / 150.2), rates, negatives, tiny spans.
        for (lo, hi) in [
            (1.0, 200.0), (1, 10), (0, 1), (0.052, 0.437), (-3.7, 12.2), (1e-5, 7e-5), (1234, 5678), (0.9, 0.95),
            (-0.02, 0.31), (1, 3), (5, 5), (0, 0)
        ] {
            let ticks = Plot.niceTicks(lo, hi)
            let step = ticks[1] - ticks[0]
            checkRound(ticks, labels: ticks.map { Plot.tickLabel($0, step: step) }, lo: lo, hi: hi)
        }
        XCTAssertEqual(Plot.niceTicks(1, 200), [0, 50, 100, 150, 200])
        XCTAssertEqual(Plot.niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1])
        // Random spans over many magnitudes.
        var rng = Stream(state: 42)
        for _ in 0..<2000 {
            let scale = pow(10, rng.next() * 12 - 6)
            let a = (rng.next() * 2 - 1) * scale * 10, b = a + rng.next() * scale
            let ticks = Plot.niceTicks(a, b, target: 1 + Int(rng.next() * 8))
            let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
            checkRound(ticks, labels: ticks.map { Plot.tickLabel($0, step: step) }, lo: a, hi: b)
        }
    }

    func testPlotAxesAreRoundAndIncludeErrorBars() {
        var rng = Stream(state: 7)
        let points = (1...137).map { (x: Double($0), y: 0.31 + 0.2 * rng.next()) }
        let errors = points.map { _ in 0.05 * rng.next() }
        let plot = Plot(
            id: "t", title: "t", xLabel: "update", yLabel: "y",
            series: [PlotSeries(name: "a", points: points, errors: errors)])
        let (x, y) = plot.axes()
        checkRound(x.ticks, labels: x.labels, lo: 1, hi: 137)
        let lows = zip(points, errors).map { $0.y - $1 }, highs = zip(points, errors).map { $0.y + $1 }
        checkRound(y.ticks, labels: y.labels, lo: lows.min()!, hi: highs.max()!)
        XCTAssertEqual(y.range.lowerBound, y.ticks.first!); XCTAssertEqual(y.range.upperBound, y.ticks.last!)
        // A fixed 0...1 range for rates keeps its ends and gets round ticks.
        let rate = Plot(
            id: "r", title: "r", xLabel: "", yLabel: "", series: [PlotSeries(name: "a", points: points)], yRange: 0...1
        ).axes().y
        XCTAssertEqual(rate.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        // Histogram bars: integer ticks only.
        let bars = Plot(
            id: "h", title: "h", xLabel: "", yLabel: "",
            series: [PlotSeries(name: "g", points: [(0, 40), (1, 8), (2, 1)], bars: true)]
        ).axes().x
        XCTAssertEqual(bars.labels, ["0", "1", "2"])
    }

    func testLogAxisIsLabelledInPowersOfTwo() {
        for maxK in [1, 2, 4, 16, 32, 1024] {
            let ks = sequence(first: 1, next: { $0 * 2 <= maxK ? $0 * 2 : nil }).map(Double.init)
            let plot = Plot(
                id: "p", title: "p", xLabel: "k", yLabel: "pass@k",
                series: [PlotSeries(name: "a", points: ks.map { ($0, 0.5) })], yRange: 0...1, logX: true)
            let x = plot.axes().x
            let values = x.labels.map { Int($0) }
            XCTAssertFalse(values.contains(nil), "labels are whole numbers: \(x.labels)")
            for v in values.compactMap({ $0 }) {
                XCTAssertEqual(v & (v - 1), 0, "\(v) is not a power of two (labels \(x.labels))")
            }
            XCTAssertEqual(values.first ?? nil, 1, "starts at k = 1: \(x.labels)")
            XCTAssertEqual(values.last ?? nil, maxK == 1 ? 2 : maxK, "ends at the largest k: \(x.labels)")
            XCTAssertLessThanOrEqual(x.labels.count, 11)
            // Tick positions are the log2 of the labels.
            for (t, s) in zip(x.ticks, x.labels) { XCTAssertEqual(pow(2, t), Double(s)!, accuracy: 1e-9) }
        }
        let svg = Plot(
            id: "p", title: "p", xLabel: "k", yLabel: "pass@k",
            series: [PlotSeries(name: "a", points: [(1, 0.3), (2, 0.4), (4, 0.5), (8, 0.6), (16, 0.7)])], yRange: 0...1,
            logX: true
        ).svg()
        let xticks = svg.components(separatedBy: "class=\"xtick\"").dropFirst().compactMap {
            $0.split(separator: ">").dropFirst().first?.split(separator: "<").first.map(String.init)
        }
        XCTAssertEqual(xticks, ["1", "2", "4", "8", "16"])
    }

    func testErrorBarsAreDrawnInsideARateAxis() {
        // pass@k near 1 with its SE: the axis stays 0...1 and every bar ends inside the plot area.
        let ks: [Double] = [1, 2, 4, 8, 16]
        let plot = Plot(
            id: "p", title: "p", xLabel: "k", yLabel: "pass@k",
            series: [
                PlotSeries(
                    name: "base", points: ks.map { ($0, min(1, 0.3 + 0.2 * log2($0))) },
                    errors: [0.02, 0.03, 0.04, 0.05, 0.06], dashed: true),
                PlotSeries(name: "after", points: ks.map { ($0, 0.4) }, errors: [0, 0.01, 0.01, 0.01, 0.01])
            ], yRange: 0...1, logX: true)
        XCTAssertEqual(plot.axes().y.labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let svg = plot.svg()
        let bars = svg.components(separatedBy: "class=\"errorbar\"").dropFirst()
        XCTAssertEqual(bars.count, 9, "one bar per point with a positive SE")
        // The y coordinates of the 1.0 and 0.0 grid lines bound every bar.
        let (_, ya) = plot.axes()
        let top = 30.0, bottom = 300.0 - 42.0 // the SVG's plot area at the default size
        XCTAssertEqual(ya.range, 0...1)
        for b in bars {
            let path = b.components(separatedBy: "d=\"").dropFirst().first?.components(separatedBy: "\"").first ?? ""
            let numbers = path.split(whereSeparator: { "MVh,".contains($0) }).compactMap { Double($0) }
            let ys = [numbers[1], numbers[2]]
            for y in ys {
                XCTAssertTrue((top - 1e-6)...(bottom + 1e-6) ~= y, "bar end \(y) outside the plot area in \(path)")
            }
        }
        XCTAssertTrue(svg.contains("stroke-dasharray"), "the base series is dashed")
    }

    /// TensorBoard's debiased EMA written as the weighted average it is: after n finite values y_1..y_n,
    /// sum_j (1 - w) w^(n-j) y_j / (1 - w^n).
    func referenceEMA(_ ys: [Double], weight w: Double) -> [Double] {
        var finite: [Double] = []
        return ys.map { y in
            guard y.isFinite else { return y }
            finite.append(y)
            let n = finite.count
            var num = 0.0
            for (j, v) in finite.enumerated() { num += (1 - w) * pow(w, Double(n - 1 - j)) * v }
            return num / (1 - pow(w, Double(n)))
        }
    }

    func testSmoothingMatchesTensorBoardsDebiasedEMA() {
        var rng = Stream(state: 3)
        for w in [0.0, 0.3, 0.6, 0.9, 0.99] {
            var ys = (0..<300).map { i in 0.2 + 0.001 * Double(i) + 0.3 * (rng.next() - 0.5) }
            ys[17] = .nan; ys[123] = .infinity
            let got = Plot.smoothed(ys, weight: w), want = referenceEMA(ys, weight: w)
            XCTAssertEqual(got.count, want.count)
            for (i, (g, r)) in zip(got, want).enumerated() {
                if r.isFinite {
                    XCTAssertEqual(g, r, accuracy: 1e-12, "weight \(w), point \(i)")
                } else {
                    XCTAssertEqual(g.isNaN, r.isNaN); XCTAssertEqual(g.isInfinite, r.isInfinite)
                }
            }
            XCTAssertEqual(got[0], ys[0], accuracy: 1e-15, "debiased: the first smoothed value is the first value")
        }
        // A constant series stays at its value from the start (the debiasing), not ramping up from 0.
        for v in Plot.smoothed([Double](repeating: 0.42, count: 50), weight: 0.9) {
            XCTAssertEqual(v, 0.42, accuracy: 1e-12)
        }
        // The report smooths its training curves and draws raw and smoothed lines for each run.
        let s = PlotSeries(
            name: "a", points: ys2.enumerated().map { (Double($0.offset + 1), $0.element) }, smoothing: 0.9)
        for (g, r) in zip(s.drawnPoints.map(\.y), referenceEMA(ys2, weight: 0.9)) {
            XCTAssertEqual(g, r, accuracy: 1e-12, "drawn points are the EMA")
        }
        let svg = Plot(
            id: "r", title: "r", xLabel: "update", yLabel: "reward",
            series: [s, PlotSeries(name: "b", points: s.points, smoothing: 0.9)]
        ).svg()
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 4, "raw + smoothed line per run")
        XCTAssertEqual(svg.components(separatedBy: "class=\"legend-entry\"").count - 1, 2, "one legend entry per run")
    }
    let ys2: [Double] = [0.1, 0.5, 0.2, 0.8, 0.4, 0.6, 0.3]

    func testStandardErrorOfMeanMatchesTheBinomialForm() {
        // n Bernoulli outcomes with c successes: the sample variance (n - 1 denominator) is n p (1 - p) / (n - 1),
        // so the SE is sqrt(p (1 - p) / (n - 1)).
        for (n, c) in [(300, 96), (50, 31), (10, 0), (2, 1)] {
            let values = (0..<n).map { Double($0 < c ? 1 : 0) }
            let p = Double(c) / Double(n)
            XCTAssertEqual(standardErrorOfMean(values), (p * (1 - p) / Double(n - 1)).squareRoot(), accuracy: 1e-12)
        }
        XCTAssertEqual(standardErrorOfMean([0.7]), 0)
    }
}
