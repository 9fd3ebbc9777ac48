// A small plot model drawn two ways: as inline SVG (for the self-contained HTML report) and as a PNG raster
// (palette PNG, deflate with fixed Huffman codes and run-length matches; plots are mostly background, so files
// stay small). Lines and bars only: what the report needs, nothing more. No text in the PNG beyond tick numbers
// (a 3x5 digit font); the HTML carries titles and legends.
import Foundation

public struct PlotSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var bars = false
    public init(name: String, points: [(x: Double, y: Double)], bars: Bool = false) { self.name = name; self.points = points; self.bars = bars }
}

public struct Plot: Sendable {
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [PlotSeries]
    /// Fixed y range (e.g. 0...1 for rates); nil fits the data.
    public var yRange: ClosedRange<Double>?
    public var logX = false
    public init(id: String, title: String, xLabel: String, yLabel: String, series: [PlotSeries], yRange: ClosedRange<Double>? = nil, logX: Bool = false) {
        self.id = id; self.title = title; self.xLabel = xLabel; self.yLabel = yLabel; self.series = series; self.yRange = yRange; self.logX = logX
    }

    public var hasData: Bool { series.contains { !$0.points.filter { $0.y.isFinite }.isEmpty } }

    static let colors: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127)]
    static func hex(_ i: Int) -> String { let c = colors[i % colors.count]; return String(format: "#%02x%02x%02x", c.0, c.1, c.2) }

    /// Data bounds with a little headroom; a flat series gets a unit-wide range.
    func bounds() -> (x: ClosedRange<Double>, y: ClosedRange<Double>) {
        let pts = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xs = pts.map { logX ? log2(max($0.x, 1e-9)) : $0.x }
        var x0 = xs.min() ?? 0, x1 = xs.max() ?? 1
        if series.contains(where: \.bars) { x0 -= 0.5; x1 += 0.5 }
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if let r = yRange { return (x0...x1, r) }
        var y0 = pts.map(\.y).min() ?? 0, y1 = pts.map(\.y).max() ?? 1
        if series.contains(where: \.bars) { y0 = min(0, y0) }
        if y1 - y0 < 1e-12 { if y0 == 0 { y1 = 1 } else { y0 -= 0.5; y1 += 0.5 } }
        let pad = (y1 - y0) * 0.05
        return (x0...x1, (y0 - (y0 == 0 ? 0 : pad))...(y1 + pad))
    }

    static func label(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1000 { return String(format: "%.0f", v) }
        if a >= 10 { return String(format: "%.1f", v) }
        if a >= 0.01 || v == 0 { return String(format: "%.2f", v) }
        return String(format: "%.1e", v)
    }

    // MARK: SVG

    public func svg(width: Double = 640, height: Double = 300) -> String {
        let (xr, yr) = bounds()
        let l = 56.0, r = 12.0, t = 28.0, b = 40.0
        let pw = width - l - r, ph = height - t - b
        func X(_ x: Double) -> Double { l + ((logX ? log2(max(x, 1e-9)) : x) - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * pw }
        func Y(_ y: Double) -> Double { t + ph - (y - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * ph }
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;") }
        var out = "<svg class=\"plot\" id=\"plot-\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
        out += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>"
        out += "<text x=\"\(Int(width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">\(esc(title))</text>"
        // Axes, ticks and grid.
        out += "<g stroke=\"#999\" stroke-width=\"1\"><line x1=\"\(l)\" y1=\"\(t + ph)\" x2=\"\(l + pw)\" y2=\"\(t + ph)\"/><line x1=\"\(l)\" y1=\"\(t)\" x2=\"\(l)\" y2=\"\(t + ph)\"/></g>"
        for i in 0...4 {
            let fy = yr.lowerBound + (yr.upperBound - yr.lowerBound) * Double(i) / 4
            out += "<line x1=\"\(l)\" y1=\"\(Y(fy))\" x2=\"\(l + pw)\" y2=\"\(Y(fy))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(l - 4)\" y=\"\(Y(fy) + 4)\" text-anchor=\"end\" font-size=\"10\">\(Self.label(fy))</text>"
            let fx = xr.lowerBound + (xr.upperBound - xr.lowerBound) * Double(i) / 4
            let shown = logX ? pow(2, fx) : fx
            out += "<text x=\"\(l + pw * Double(i) / 4)\" y=\"\(t + ph + 14)\" text-anchor=\"middle\" font-size=\"10\">\(Self.label(shown))</text>"
        }
        out += "<text x=\"\(l + pw / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\" font-size=\"11\">\(esc(xLabel))</text>"
        out += "<text x=\"12\" y=\"\(t + ph / 2)\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 12 \(t + ph / 2))\">\(esc(yLabel))</text>"
        // Data.
        let barSeries = series.filter(\.bars).count
        var barIndex = 0
        for (i, s) in series.enumerated() {
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            if s.bars {
                let slot = pw / max(1, xr.upperBound - xr.lowerBound) * 0.8
                let bw = slot / Double(max(1, barSeries))
                for p in pts {
                    let x = X(p.x) - slot / 2 + bw * Double(barIndex)
                    let y0 = Y(max(0, yr.lowerBound)), y1 = Y(p.y)
                    out += "<rect class=\"mark\" x=\"\(x)\" y=\"\(min(y0, y1))\" width=\"\(bw)\" height=\"\(max(abs(y0 - y1), 0.5))\" fill=\"\(Self.hex(i))\"><title>\(esc(s.name)) \(Self.label(p.x)): \(Self.label(p.y))</title></rect>"
                }
                barIndex += 1
            } else if pts.count == 1 {
                out += "<circle class=\"mark\" cx=\"\(X(pts[0].x))\" cy=\"\(Y(pts[0].y))\" r=\"3\" fill=\"\(Self.hex(i))\"/>"
            } else if !pts.isEmpty {
                let coords = pts.map { String(format: "%.1f,%.1f", X($0.x), Y($0.y)) }.joined(separator: " ")
                out += "<polyline class=\"mark\" fill=\"none\" stroke=\"\(Self.hex(i))\" stroke-width=\"1.6\" points=\"\(coords)\"/>"
            }
        }
        // Legend.
        for (i, s) in series.enumerated() {
            let y = t + 4 + Double(i) * 14
            out += "<rect x=\"\(l + pw - 150)\" y=\"\(y)\" width=\"10\" height=\"10\" fill=\"\(Self.hex(i))\"/><text x=\"\(l + pw - 136)\" y=\"\(y + 9)\" font-size=\"10\">\(esc(s.name))</text>"
        }
        return out + "</svg>"
    }

    // MARK: PNG

    public func png(width: Int = 640, height: Int = 300) -> Data {
        var img = Raster(width: width, height: height)
        let (xr, yr) = bounds()
        let l = 40, r = 10, t = 10, b = 18
        let pw = width - l - r, ph = height - t - b
        func X(_ x: Double) -> Int { l + Int(((logX ? log2(max(x, 1e-9)) : x) - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * Double(pw)) }
        func Y(_ y: Double) -> Int { t + ph - Int((y - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * Double(ph)) }
        for i in 0...4 {
            let fy = yr.lowerBound + (yr.upperBound - yr.lowerBound) * Double(i) / 4
            img.line(l, Y(fy), l + pw, Y(fy), color: 2)
            img.text(Self.label(fy), rightX: l - 3, centerY: Y(fy))
            let fx = xr.lowerBound + (xr.upperBound - xr.lowerBound) * Double(i) / 4
            img.text(Self.label(logX ? pow(2, fx) : fx), rightX: l + pw * i / 4 + 8, centerY: t + ph + 8)
        }
        img.line(l, t + ph, l + pw, t + ph, color: 1); img.line(l, t, l, t + ph, color: 1)
        let barSeries = series.filter(\.bars).count
        var barIndex = 0
        for (i, s) in series.enumerated() {
            let c = UInt8(3 + i % Self.colors.count)
            let pts = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            if s.bars {
                let slot = Double(pw) / max(1, xr.upperBound - xr.lowerBound) * 0.8
                let bw = max(1, Int(slot / Double(max(1, barSeries))))
                for p in pts {
                    let x = X(p.x) - Int(slot / 2) + bw * barIndex
                    img.fill(x, min(Y(p.y), Y(max(0, yr.lowerBound))), bw, abs(Y(p.y) - Y(max(0, yr.lowerBound))) + 1, color: c)
                }
                barIndex += 1
            } else {
                for (a, b) in zip(pts, pts.dropFirst()) { img.line(X(a.x), Y(a.y), X(b.x), Y(b.y), color: c, thick: true) }
                if pts.count == 1 { img.fill(X(pts[0].x) - 2, Y(pts[0].y) - 2, 5, 5, color: c) }
            }
        }
        var palette: [(UInt8, UInt8, UInt8)] = [(255, 255, 255), (120, 120, 120), (235, 235, 235)]
        palette += Self.colors
        return PNG.encode(width: width, height: height, indices: img.pixels, palette: palette)
    }
}

/// An 8-bit palette raster with clipped drawing.
struct Raster {
    let width: Int, height: Int
    var pixels: [UInt8]
    init(width: Int, height: Int) { self.width = width; self.height = height; pixels = [UInt8](repeating: 0, count: width * height) }
    mutating func set(_ x: Int, _ y: Int, _ c: UInt8) { if x >= 0 && y >= 0 && x < width && y < height { pixels[y * width + x] = c } }
    mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, color: UInt8) { for yy in y..<(y + max(h, 0)) { for xx in x..<(x + max(w, 0)) { set(xx, yy, color) } } }
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
        ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0], "e": [0, 7, 7, 4, 7], "+": [0, 2, 7, 2, 0],
    ]
    mutating func text(_ s: String, rightX: Int, centerY: Int) {
        var x = rightX - s.count * 4
        for ch in s {
            if let g = Self.glyphs[ch] {
                for (row, bits) in g.enumerated() { for col in 0..<3 where bits & (4 >> col) != 0 { set(x + col, centerY - 2 + row, 1) } }
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
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

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
    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra: [UInt32] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]

    static func zlib(_ data: [UInt8]) -> [UInt8] {
        var w = BitWriter()
        w.bits(1, 1); w.bits(1, 2)   // final block, fixed Huffman
        var i = 0
        while i < data.count {
            var run = 0
            if i > 0 { while run < 258 && i + run < data.count && data[i + run] == data[i - 1] { run += 1 } }
            if run >= 3 {
                let code = lengthBase.lastIndex { $0 <= run }!
                literal(257 + code, &w)
                w.bits(UInt32(run - lengthBase[code]), lengthExtra[code])
                w.code(0, 5)   // distance code 0: distance 1
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
