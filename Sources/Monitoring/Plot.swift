// A small plot model drawn two ways: as inline SVG (for the self-contained HTML report) and as a PNG raster
// (palette PNG, deflate with fixed Huffman codes and run-length matches; plots are mostly background, so files
// stay small). Lines, bars and error bars: what the report needs, nothing more. No text in the PNG beyond tick
// numbers (a 3x5 digit font); the SVG carries titles, axis labels and a legend.
//
// Readability rules: tick values are round (1, 2 or 5 times a power of ten) and span the data; a log axis is
// base 2 with ticks at powers of two labelled 1, 2, 4, ...; a noisy training curve is drawn faint with its
// exponential moving average on top, smoothed and debiased exactly as TensorBoard draws it.
import Foundation

public struct PlotSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var bars = false
    /// One standard error per point, drawn as a +-1 SE bar (nil: none).
    public var errors: [Double]?
    /// TensorBoard's smoothing weight in [0, 1): the raw line is drawn faint and the EMA over it (nil: raw only).
    public var smoothing: Double?
    /// Colour slot (nil: the series' position), so one run keeps its colour across series and plots.
    public var colorIndex: Int?
    /// A dashed line (in the PNG: the faint colour), e.g. the base model beside the trained one.
    public var dashed = false
    public init(
        name: String, points: [(x: Double, y: Double)], bars: Bool = false, errors: [Double]? = nil,
        smoothing: Double? = nil,
        colorIndex: Int? = nil, dashed: Bool = false
    ) {
        self.name = name; self.points = points; self.bars = bars; self.errors = errors; self.smoothing = smoothing
        self.colorIndex = colorIndex; self.dashed = dashed
    }

    /// The points as drawn on top: the EMA when the series is smoothed, else the points themselves.
    public var drawnPoints: [(x: Double, y: Double)] {
        guard let w = smoothing else { return points }
        return zip(points, Plot.smoothed(points.map(\.y), weight: w)).map { ($0.x, $1) }
    }
}

/// One axis: its drawn range and where its ticks go, with their labels.
public struct PlotAxis: Sendable {
    public var range: ClosedRange<Double>
    /// Tick positions in axis units (log2 of the value on a log axis).
    public var ticks: [Double]
    public var labels: [String]
}

public struct Plot: Sendable {
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]
    /// Fixed y range (e.g. 0...1 for rates); nil fits the data.
    public var yRange: ClosedRange<Double>?
    /// Base-2 logarithmic x axis (pass@k over k = 1, 2, 4, ...).
    public var logX = false
    public init(
        id: String, title: String, xLabel: String, yLabel: String, series: [PlotSeries],
        yRange: ClosedRange<Double>? = nil, logX: Bool = false
    ) {
        self.id = id; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series;
        self.yRange = yRange; self.logX = logX
    }

    public var hasData: Bool { series.contains { !$0.points.filter { $0.y.isFinite }.isEmpty } }

    static let colors: [(UInt8, UInt8, UInt8)] = [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194),
        (127, 127, 127)
    ]
    static func hex(_ i: Int) -> String {
        let c = colors[i % colors.count]; return String(format: "#%02x%02x%02x", c.0, c.1, c.2)
    }

    // MARK: Smoothing and ticks

    /// TensorBoard's scalar smoothing: last = last * w + (1 - w) * y over the finite values, each divided by
    /// 1 - w^n (n finite values so far) so the start is not pulled towards 0. Non-finite values pass through.
    public static func smoothed(_ ys: [Double], weight w: Double) -> [Double] {
        var last = 0.0, n = 0.0
        return ys.map { y in
            guard y.isFinite else { return y }
            last = last * w + (1 - w) * y
            n += 1
            let debias = w == 1 ? 1 : 1 - pow(w, n)
            return last / debias
        }
    }

    /// Round tick values spanning lo...hi: steps of 1, 2 or 5 times a power of ten (at least `minStep`), about
    /// `target` intervals, the first tick at or below lo and the last at or above hi.
    public static func niceTicks(_ lo: Double, _ hi: Double, target: Int = 5, minStep: Double = 0) -> [Double] {
        var lo = lo, hi = hi
        if !(hi - lo > 1e-12 * max(1, abs(lo))) {
            lo -= lo == 0 ? 0 : abs(lo) * 0.1 + 0.5; hi += hi == 0 ? 1 : abs(hi) * 0.1 + 0.5
        }
        let step = niceStep((hi - lo) / Double(max(1, target)), minStep: minStep)
        let first = (lo / step + 1e-9).rounded(.down), last = (hi / step - 1e-9).rounded(.up)
        return stride(from: first, through: last, by: 1).map { tidy($0 * step, step: step) }
    }

    /// The smallest of 1, 2, 5 x 10^k at least `raw` (and `minStep`).
    static func niceStep(_ raw: Double, minStep: Double = 0) -> Double {
        let r = max(raw, minStep, 1e-300)
        let mag = pow(10, (log10(r)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * mag >= r * (1 - 1e-9) { return m * mag }
        return 10 * mag
    }

    /// Removes binary noise from a multiple of `step` (0.30000000000000004 -> 0.3).
    static func tidy(_ v: Double, step: Double) -> Double {
        let decimals = decimalsFor(step: step)
        guard decimals <= 15 else { return v }
        let scale = pow(10, Double(decimals))
        return (v * scale).rounded() / scale
    }

    static func decimalsFor(step: Double) -> Int { max(0, Int((-log10(step) - 1e-9).rounded(.up))) }

    /// A tick label with exactly the decimals the step needs (0, 50, 100; 0.2, 0.4; 0.05, 0.10).
    static func tickLabel(_ v: Double, step: Double) -> String {
        if step >= 1e-4 && abs(v) < 1e9 { return String(format: "%.\(decimalsFor(step: step))f", v == 0 ? 0 : v) }
        // Scientific, with as many significant digits as the step needs next to the value's size.
        let magnitude = { (x: Double) in Int((log10(x) + 1e-9).rounded(.down)) }
        let digits = max(1, magnitude(max(abs(v), step)) - magnitude(step) + 1)
        return String(format: "%.\(digits - 1)e", v == 0 ? 0 : v)
    }

    /// x and y axes: round ticks spanning the data (and error bars); on a log axis, powers of two.
    public func axes() -> (x: PlotAxis, y: PlotAxis) {
        let pts = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) }
        let hasBars = series.contains(where: \.bars)
        let xs = pts.map { logX ? log2($0.x) : $0.x }
        let x: PlotAxis
        if logX {
            let lo = (xs.min() ?? 0).rounded(.down), hi = max((xs.max() ?? 1).rounded(.up), lo + 1)
            let every = Int(((hi - lo) / 8).rounded(.up)) // at most ~8 labelled powers
            let ticks = stride(from: lo, through: hi, by: Double(max(1, every))).map { $0 }
            x = PlotAxis(range: (lo - 0.15)...(hi + 0.15), ticks: ticks, labels: ticks.map { Self.powerOfTwoLabel($0) })
        } else {
            let ticks = Self.niceTicks(xs.min() ?? 0, xs.max() ?? 1, target: 6, minStep: hasBars ? 1 : 0)
            let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
            let range = hasBars ? ((xs.min() ?? 0) - 0.6)...((xs.max() ?? 1) + 0.6) : ticks.first!...ticks.last!
            let shown = ticks.filter { range.contains($0) }
            x = PlotAxis(range: range, ticks: shown, labels: shown.map { Self.tickLabel($0, step: step) })
        }
        var ys: [Double] = []
        for s in series {
            for (i, p) in s.points.enumerated() where p.x.isFinite && p.y.isFinite {
                let e = s.errors.flatMap { i < $0.count && $0[i].isFinite ? $0[i] : nil } ?? 0
                ys += [p.y - e, p.y + e]
            }
        }
        var y0 = ys.min() ?? 0, y1 = ys.max() ?? 1
        if hasBars { y0 = min(0, y0) }
        // A fixed range (a rate in 0...1) widens only for data outside it, not for error bars (clipped when drawn).
        if let r = yRange {
            y0 = min(r.lowerBound, pts.map(\.y).min() ?? 0); y1 = max(r.upperBound, pts.map(\.y).max() ?? 1)
        }
        let yt = Self.niceTicks(y0, y1, target: 5)
        let ystep = yt.count > 1 ? yt[1] - yt[0] : 1
        return (x, PlotAxis(range: yt.first!...yt.last!, ticks: yt, labels: yt.map { Self.tickLabel($0, step: ystep) }))
    }

    /// 2^e as an integer label for e >= 0 (1, 2, 4, ... 1024), else as a fraction-free decimal.
    static func powerOfTwoLabel(_ e: Double) -> String {
        let v = pow(2, e)
        return e >= 0 && v < 1e15 ? String(Int(v.rounded())) : String(format: "%g", v)
    }

    // MARK: SVG

    /// Legend rows below the plot: entries flow left to right and wrap at the plot's width.
    func legendLayout(width: Double, left: Double) -> (rows: Int, positions: [(x: Double, row: Int)]) {
        var x = left, row = 0
        var out: [(x: Double, row: Int)] = []
        for s in series {
            let w = 26 + Double(s.name.count) * 6.4 + 16
            if x + w > width - 8 && x > left { x = left; row += 1 }
            out.append((x, row)); x += w
        }
        return (series.isEmpty ? 0 : row + 1, out)
    }

    /// The SVG scales to its container's width (viewBox); `width` x `height` is the plot area's design size,
    /// the legend adds rows below.
    public func svg(width: Double = 640, height: Double = 300) -> String {
        let (xa, ya) = axes()
        let smoothedAny = series.contains { $0.smoothing != nil }
        let l = 58.0, r = 16.0, t = 30.0, b = 42.0
        let legend = legendLayout(width: width, left: l)
        let legendRows = legend.rows + (smoothedAny ? 1 : 0)
        let total = height + Double(legendRows) * 16 + 4
        let pw = width - l - r, ph = height - t - b
        func X(_ x: Double) -> Double {
            l + ((logX ? log2(max(x, 1e-300)) : x) - xa.range.lowerBound) / (xa.range.upperBound - xa.range.lowerBound)
                * pw
        }
        func XA(_ u: Double) -> Double {
            l + (u - xa.range.lowerBound) / (xa.range.upperBound - xa.range.lowerBound) * pw
        }
        func Y(_ y: Double) -> Double {
            t + ph - (y - ya.range.lowerBound) / (ya.range.upperBound - ya.range.lowerBound) * ph
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        }
        var out =
            "<svg class=\"plot\" id=\"plot-\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(total))\" preserveAspectRatio=\"xMinYMin meet\">"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(total))\" fill=\"white\"/>"
        out +=
            "<text x=\"\(Int(width / 2))\" y=\"19\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(esc(title))</text>"
        // Grid, ticks and axes.
        for (v, label) in zip(ya.ticks, ya.labels) {
            out += "<line x1=\"\(f(l))\" y1=\"\(f(Y(v)))\" x2=\"\(f(l + pw))\" y2=\"\(f(Y(v)))\" stroke=\"#e6e6e6\"/>"
            out +=
                "<text class=\"ytick\" x=\"\(f(l - 5))\" y=\"\(f(Y(v) + 4))\" text-anchor=\"end\" font-size=\"11\">\(label)</text>"
        }
        for (u, label) in zip(xa.ticks, xa.labels) {
            out += "<line x1=\"\(f(XA(u)))\" y1=\"\(f(t))\" x2=\"\(f(XA(u)))\" y2=\"\(f(t + ph))\" stroke=\"#f0f0f0\"/>"
            out +=
                "<line x1=\"\(f(XA(u)))\" y1=\"\(f(t + ph))\" x2=\"\(f(XA(u)))\" y2=\"\(f(t + ph + 4))\" stroke=\"#999\"/>"
            out +=
                "<text class=\"xtick\" x=\"\(f(XA(u)))\" y=\"\(f(t + ph + 16))\" text-anchor=\"middle\" font-size=\"11\">\(label)</text>"
        }
        out +=
            "<g stroke=\"#999\" stroke-width=\"1\"><line x1=\"\(f(l))\" y1=\"\(f(t + ph))\" x2=\"\(f(l + pw))\" y2=\"\(f(t + ph))\"/><line x1=\"\(f(l))\" y1=\"\(f(t))\" x2=\"\(f(l))\" y2=\"\(f(t + ph))\"/></g>"
        out +=
            "<text x=\"\(f(l + pw / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\" font-size=\"12\">\(esc(xLabel))</text>"
        out +=
            "<text x=\"14\" y=\"\(f(t + ph / 2))\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 14 \(f(t + ph / 2)))\">\(esc(yLabel))</text>"
        // Data.
        let barSeries = series.filter(\.bars).count
        var barIndex = 0
        for (i, s) in series.enumerated() {
            let color = Self.hex(s.colorIndex ?? i)
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            func polyline(_ p: [(x: Double, y: Double)], _ attrs: String) -> String {
                "<polyline class=\"mark\" fill=\"none\" stroke=\"\(color)\"\(dash) \(attrs) points=\"\(p.map { f(X($0.x)) + "," + f(Y($0.y)) }.joined(separator: " "))\"/>"
            }
            if s.bars {
                let slot = pw / max(1, xa.range.upperBound - xa.range.lowerBound) * 0.8
                let bw = slot / Double(max(1, barSeries))
                for p in pts {
                    let x = X(p.x) - slot / 2 + bw * Double(barIndex)
                    let y0 = Y(max(0, ya.range.lowerBound)), y1 = Y(p.y)
                    out +=
                        "<rect class=\"mark\" x=\"\(f(x))\" y=\"\(f(min(y0, y1)))\" width=\"\(f(bw))\" height=\"\(f(max(abs(y0 - y1), 0.5)))\" fill=\"\(color)\"><title>\(esc(s.name)) \(p.x): \(p.y)</title></rect>"
                }
                barIndex += 1
                continue
            }
            if let errors = s.errors {
                for (p, e) in zip(s.points, errors) where p.x.isFinite && p.y.isFinite && e.isFinite && e > 0 {
                    let x = f(X(p.x)), lo = Y(max(p.y - e, ya.range.lowerBound)),
                        hi = Y(min(p.y + e, ya.range.upperBound))
                    out +=
                        "<path class=\"errorbar\" stroke=\"\(color)\" stroke-width=\"1.2\" d=\"M\(x),\(f(lo))V\(f(hi))M\(f(X(p.x) - 3)),\(f(lo))h6M\(f(X(p.x) - 3)),\(f(hi))h6\"/>"
                }
            }
            if s.smoothing != nil {
                if pts.count > 1 { out += polyline(pts, "stroke-width=\"1\" stroke-opacity=\"0.3\"") }
                let sm = s.drawnPoints.filter { $0.x.isFinite && $0.y.isFinite }
                if sm.count > 1 { out += polyline(sm, "stroke-width=\"2.2\"") }
                if sm.count == 1 {
                    out +=
                        "<circle class=\"mark\" cx=\"\(f(X(sm[0].x)))\" cy=\"\(f(Y(sm[0].y)))\" r=\"3\" fill=\"\(color)\"/>"
                }
            } else if pts.count == 1 || s.errors != nil {
                if pts.count > 1 { out += polyline(pts, "stroke-width=\"1.6\"") }
                for p in pts {
                    out +=
                        "<circle class=\"mark\" cx=\"\(f(X(p.x)))\" cy=\"\(f(Y(p.y)))\" r=\"3\" fill=\"\(color)\"><title>\(esc(s.name)): \(p.y)</title></circle>"
                }
            } else if !pts.isEmpty {
                out += polyline(pts, "stroke-width=\"1.6\"")
            }
        }
        // Legend below the x label: one entry per series, then how smoothed curves are drawn.
        let legendTop = height + 2
        for (i, s) in series.enumerated() {
            let (x, row) = legend.positions[i]
            let y = legendTop + Double(row) * 16
            out +=
                "<g class=\"legend-entry\"><line x1=\"\(f(x))\" y1=\"\(f(y + 6))\" x2=\"\(f(x + 20))\" y2=\"\(f(y + 6))\" stroke=\"\(Self.hex(s.colorIndex ?? i))\" stroke-width=\"\(s.bars ? 8 : 3)\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            out += "<text x=\"\(f(x + 26))\" y=\"\(f(y + 10))\" font-size=\"11\">\(esc(s.name))</text></g>"
        }
        if smoothedAny {
            let w = series.compactMap(\.smoothing).first ?? 0
            let y = legendTop + Double(legend.rows) * 16
            out +=
                "<text x=\"\(f(l))\" y=\"\(f(y + 10))\" font-size=\"10\" fill=\"#666\">faint: per update; bold: exponential moving average, weight \(w), debiased (TensorBoard's smoothing)</text>"
        }
        return out + "</svg>"
    }

    // MARK: PNG

    public func png(width: Int = 640, height: Int = 300) -> Data {
        var img = Raster(width: width, height: height)
        let (xa, ya) = axes()
        let l = 40, r = 10, t = 10, b = 18
        let pw = width - l - r, ph = height - t - b
        func XA(_ u: Double) -> Int {
            l + Int(((u - xa.range.lowerBound) / (xa.range.upperBound - xa.range.lowerBound) * Double(pw)).rounded())
        }
        func X(_ x: Double) -> Int { XA(logX ? log2(max(x, 1e-300)) : x) }
        func Y(_ y: Double) -> Int {
            t + ph
                - Int(((y - ya.range.lowerBound) / (ya.range.upperBound - ya.range.lowerBound) * Double(ph)).rounded())
        }
        for (v, label) in zip(ya.ticks, ya.labels) {
            img.line(l, Y(v), l + pw, Y(v), color: 2)
            img.text(label, rightX: l - 3, centerY: Y(v))
        }
        for (u, label) in zip(xa.ticks, xa.labels) {
            img.line(XA(u), t + ph, XA(u), t + ph + 2, color: 1)
            img.text(label, rightX: XA(u) + label.count * 2, centerY: t + ph + 8)
        }
        img.line(l, t + ph, l + pw, t + ph, color: 1); img.line(l, t, l, t + ph, color: 1)
        let barSeries = series.filter(\.bars).count
        var barIndex = 0
        let light = UInt8(3 + Self.colors.count) // faint variants follow the full colours in the palette
        for (i, s) in series.enumerated() {
            let slot = (s.colorIndex ?? i) % Self.colors.count
            let faint = light + UInt8(slot), c = s.dashed ? faint : UInt8(3 + slot)
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            if s.bars {
                let slot = Double(pw) / max(1, xa.range.upperBound - xa.range.lowerBound) * 0.8
                let bw = max(1, Int(slot / Double(max(1, barSeries))))
                for p in pts {
                    let x = X(p.x) - Int(slot / 2) + bw * barIndex
                    img.fill(
                        x, min(Y(p.y), Y(max(0, ya.range.lowerBound))), bw,
                        abs(Y(p.y) - Y(max(0, ya.range.lowerBound))) + 1, color: c)
                }
                barIndex += 1
                continue
            }
            if let errors = s.errors {
                for (p, e) in zip(s.points, errors) where p.x.isFinite && p.y.isFinite && e.isFinite && e > 0 {
                    let lo = Y(max(p.y - e, ya.range.lowerBound)), hi = Y(min(p.y + e, ya.range.upperBound))
                    img.line(X(p.x), lo, X(p.x), hi, color: c)
                    img.line(X(p.x) - 2, lo, X(p.x) + 2, lo, color: c)
                    img.line(X(p.x) - 2, hi, X(p.x) + 2, hi, color: c)
                }
            }
            let main = s.smoothing != nil ? s.drawnPoints.filter { $0.x.isFinite && $0.y.isFinite } : pts
            if s.smoothing != nil {
                for (a, b) in zip(pts, pts.dropFirst()) { img.line(X(a.x), Y(a.y), X(b.x), Y(b.y), color: faint) }
            }
            for (a, b) in zip(main, main.dropFirst()) {
                img.line(X(a.x), Y(a.y), X(b.x), Y(b.y), color: c, thick: true)
            }
            if main.count == 1 || s.errors != nil { for p in main { img.fill(X(p.x) - 2, Y(p.y) - 2, 5, 5, color: c) } }
        }
        var palette: [(UInt8, UInt8, UInt8)] = [(255, 255, 255), (120, 120, 120), (235, 235, 235)]
        palette += Self.colors
        // 30% of the colour over white, like the SVG's faint raw lines.
        palette += Self.colors.map { c in
            func mix(_ v: UInt8) -> UInt8 { UInt8((Double(v) * 0.3 + 255 * 0.7).rounded()) }
            return (mix(c.0), mix(c.1), mix(c.2))
        }
        return PNG.encode(width: width, height: height, indices: img.pixels, palette: palette)
    }
}

/// An 8-bit palette raster with clipped drawing.
struct Raster {
    let width: Int, height: Int
    var pixels: [UInt8]
    init(width: Int, height: Int) {
        self.width = width; self.height = height; pixels = [UInt8](repeating: 0, count: width * height)
    }
    mutating func set(_ x: Int, _ y: Int, _ c: UInt8) {
        if x >= 0 && y >= 0 && x < width && y < height { pixels[y * width + x] = c }
    }
    mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, color: UInt8) {
        for yy in y..<(y + max(h, 0)) { for xx in x..<(x + max(w, 0)) { set(xx, yy, color) } }
    }
    /// Bresenham.
    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, color: UInt8, thick: Bool = false) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            set(x, y, color); if thick { set(x, y + 1, color); set(x + 1, y, color) }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }
    /// 3x5 glyphs for tick numbers: digits, '.', '-', 'e', '+'. Each row is 3 bits, top row first.
    static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0], "e": [0, 7, 7, 4, 7], "+": [0, 2, 7, 2, 0]
    ]
    mutating func text(_ s: String, rightX: Int, centerY: Int) {
        var x = rightX - s.count * 4
        for ch in s {
            if let g = Self.glyphs[ch] {
                for (row, bits) in g.enumerated() {
                    for col in 0..<3 where bits & (4 >> col) != 0 { set(x + col, centerY - 2 + row, 1) }
                }
            }
            x += 4
        }
    }
}

/// PNG writer: color type 3 (palette), 8-bit, filter 0 on every row; zlib stream of one fixed-Huffman deflate
/// block whose only matches are runs (distance 1), which is where plots are redundant.
enum PNG {
    static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static func encode(width: Int, height: Int, indices: [UInt8], palette: [(UInt8, UInt8, UInt8)]) -> Data {
        var raw: [UInt8] = []
        raw.reserveCapacity((width + 1) * height)
        for y in 0..<height { raw.append(0); raw += indices[(y * width)..<((y + 1) * width)] }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ data: [UInt8]) {
            let t = Array(type.utf8)
            out += be32(UInt32(data.count)) + t + data + be32(crc32(t + data))
        }
        chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, 3, 0, 0, 0])
        chunk("PLTE", palette.flatMap { [$0.0, $0.1, $0.2] })
        chunk("IDAT", zlib(raw))
        chunk("IEND", [])
        return Data(out)
    }

    static func adler32(_ d: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        for x in d { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        return (b << 16) | a
    }

    struct BitWriter {
        var bytes: [UInt8] = []
        var acc: UInt32 = 0, n: UInt32 = 0
        /// Value bits LSB first (deflate's order for extra bits and headers).
        mutating func bits(_ v: UInt32, _ count: UInt32) {
            acc |= v << n; n += count
            while n >= 8 { bytes.append(UInt8(acc & 0xFF)); acc >>= 8; n -= 8 }
        }
        /// A Huffman code, most significant bit first.
        mutating func code(_ c: UInt32, _ len: UInt32) {
            var rev: UInt32 = 0
            for i in 0..<len where c & (1 << i) != 0 { rev |= 1 << (len - 1 - i) }
            bits(rev, len)
        }
        mutating func flush() { if n > 0 { bytes.append(UInt8(acc & 0xFF)); acc = 0; n = 0 } }
    }

    static func literal(_ v: Int, _ w: inout BitWriter) {
        switch v {
        case 0...143: w.code(UInt32(0x30 + v), 8)
        case 144...255: w.code(UInt32(0x190 + v - 144), 9)
        case 256...279: w.code(UInt32(v - 256), 7)
        default: w.code(UInt32(0xC0 + v - 280), 8)
        }
    }
    static let lengthBase = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227,
        258
    ]
    static let lengthExtra: [UInt32] = [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0
    ]

    static func zlib(_ data: [UInt8]) -> [UInt8] {
        var w = BitWriter()
        w.bits(1, 1); w.bits(1, 2) // final block, fixed Huffman
        var i = 0
        while i < data.count {
            var run = 0
            if i > 0 { while run < 258 && i + run < data.count && data[i + run] == data[i - 1] { run += 1 } }
            if run >= 3 {
                let code = lengthBase.lastIndex { $0 <= run }!
                literal(257 + code, &w)
                w.bits(UInt32(run - lengthBase[code]), lengthExtra[code])
                w.code(0, 5) // distance code 0: distance 1
                i += run
            } else {
                literal(Int(data[i]), &w); i += 1
            }
        }
        literal(256, &w)
        w.flush()
        return [0x78, 0x01] + w.bytes + be32(adler32(data))
    }
}
