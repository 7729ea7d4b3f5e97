import Foundation

/// Inline SVG charts for the report: no scripts, no fonts beyond the page's, every label escaped.
enum SVG {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    /// "Nice" tick values covering lo…hi.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var out: [Double] = []
        var t = (lo / step).rounded(.up) * step
        while t <= hi + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    static func num(_ x: Double) -> String { String(format: "%.4g", x) }
    static func px(_ x: Double) -> String { String(format: "%.1f", x) }

    /// The range of values, widened when flat and padded a little.
    static func range(_ values: [Double], includeZero: Bool = false) -> (Double, Double) {
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if includeZero { lo = min(lo, 0); hi = max(hi, 0) }
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        return (includeZero && lo == 0 ? 0 : lo - pad, hi + pad)
    }

    /// A line chart (markers on every point) with axes, ticks, axis titles and a legend.
    static func lineChart(id: String, title: String, xLabel: String, yLabel: String, series: [Series],
                          width: Double = 440, height: Double = 280, includeZero: Bool = true) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        let (x0, x1) = range(xs), (y0, y1) = range(ys, includeZero: includeZero)
        let left = 56.0, right = 14.0, top = 48.0, bottom = 46.0   // the legend sits between the title and the plot
        let pw = width - left - right, ph = height - top - bottom
        func X(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func Y(_ y: Double) -> Double { top + ph - (y - y0) / (y1 - y0) * ph }
        var s = "<svg id=\"\(HTML.attr(id))\" data-kind=\"chart\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
        s += "viewBox=\"0 0 \(px(width)) \(px(height))\" width=\"\(px(width))\" height=\"\(px(height))\" role=\"img\" aria-label=\"\(HTML.attr(title))\">"
        s += "<title>\(HTML.text(title))</title>"
        s += "<text x=\"\(px(width / 2))\" y=\"18\" text-anchor=\"middle\" class=\"ct\">\(HTML.text(title))</text>"
        s += axes(left: left, top: top, pw: pw, ph: ph, x0: x0, x1: x1, y0: y0, y1: y1, X: X, Y: Y)
        s += "<text x=\"\(px(left + pw / 2))\" y=\"\(px(height - 8))\" text-anchor=\"middle\" class=\"al\">\(HTML.text(xLabel))</text>"
        s += "<text transform=\"translate(14 \(px(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"al\">\(HTML.text(yLabel))</text>"
        for (k, ser) in series.enumerated() {
            let pts = ser.points.sorted { $0.x < $1.x }
            if pts.count > 1 {
                let d = pts.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(px(X($0.element.x))),\(px(Y($0.element.y)))" }.joined()
                s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"2\"\(ser.dashed ? " stroke-dasharray=\"5 3\"" : "")/>"
            }
            for p in pts {
                s += "<circle cx=\"\(px(X(p.x)))\" cy=\"\(px(Y(p.y)))\" r=\"3\" fill=\"\(ser.color)\"><title>\(HTML.text("\(ser.name): (\(num(p.x)), \(num(p.y)))"))</title></circle>"
            }
            let lx = left + series.prefix(k).reduce(0.0) { $0 + 30 + 7 * Double($1.name.count) }
            s += "<rect x=\"\(px(lx))\" y=\"31\" width=\"14\" height=\"3\" fill=\"\(ser.color)\"/>"
            s += "<text x=\"\(px(lx + 18))\" y=\"36\" class=\"lg\">\(HTML.text(ser.name))</text>"
        }
        return s + "</svg>"
    }

    /// A scatter of labelled points.
    static func scatter(id: String, title: String, xLabel: String, yLabel: String,
                        points: [(label: String, x: Double, y: Double, color: String)],
                        width: Double = 440, height: Double = 300) -> String {
        // Wider margins than a line chart: the markers and their labels stay inside the plot.
        var (x0, x1) = range(points.map(\.x)), (y0, y1) = range(points.map(\.y))
        (x0, x1) = (x0 - (x1 - x0) * 0.08, x1 + (x1 - x0) * 0.12)
        (y0, y1) = (y0 - (y1 - y0) * 0.08, y1 + (y1 - y0) * 0.08)
        let left = 56.0, right = 20.0, top = 30.0, bottom = 46.0
        let pw = width - left - right, ph = height - top - bottom
        func X(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func Y(_ y: Double) -> Double { top + ph - (y - y0) / (y1 - y0) * ph }
        var s = "<svg id=\"\(HTML.attr(id))\" data-kind=\"chart\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
        s += "viewBox=\"0 0 \(px(width)) \(px(height))\" width=\"\(px(width))\" height=\"\(px(height))\" role=\"img\" aria-label=\"\(HTML.attr(title))\">"
        s += "<title>\(HTML.text(title))</title>"
        s += "<text x=\"\(px(width / 2))\" y=\"18\" text-anchor=\"middle\" class=\"ct\">\(HTML.text(title))</text>"
        s += axes(left: left, top: top, pw: pw, ph: ph, x0: x0, x1: x1, y0: y0, y1: y1, X: X, Y: Y)
        s += "<text x=\"\(px(left + pw / 2))\" y=\"\(px(height - 8))\" text-anchor=\"middle\" class=\"al\">\(HTML.text(xLabel))</text>"
        s += "<text transform=\"translate(14 \(px(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"al\">\(HTML.text(yLabel))</text>"
        for p in points {
            s += "<circle cx=\"\(px(X(p.x)))\" cy=\"\(px(Y(p.y)))\" r=\"6\" fill=\"\(p.color)\" fill-opacity=\"0.85\"><title>\(HTML.text("\(p.label): (\(num(p.x)), \(num(p.y)))"))</title></circle>"
            s += "<text x=\"\(px(X(p.x) + 9))\" y=\"\(px(Y(p.y) + 4))\" class=\"pl\">\(HTML.text(p.label))</text>"
        }
        return s + "</svg>"
    }

    static func axes(left: Double, top: Double, pw: Double, ph: Double, x0: Double, x1: Double, y0: Double, y1: Double,
                     X: (Double) -> Double, Y: (Double) -> Double) -> String {
        var s = "<rect x=\"\(px(left))\" y=\"\(px(top))\" width=\"\(px(pw))\" height=\"\(px(ph))\" fill=\"#fafafa\" stroke=\"#999\"/>"
        for t in ticks(x0, x1) where t >= x0 && t <= x1 {
            s += "<line x1=\"\(px(X(t)))\" x2=\"\(px(X(t)))\" y1=\"\(px(top))\" y2=\"\(px(top + ph))\" stroke=\"#e4e4e4\"/>"
            s += "<text x=\"\(px(X(t)))\" y=\"\(px(top + ph + 14))\" text-anchor=\"middle\" class=\"tk\">\(num(t))</text>"
        }
        for t in ticks(y0, y1) where t >= y0 && t <= y1 {
            s += "<line x1=\"\(px(left))\" x2=\"\(px(left + pw))\" y1=\"\(px(Y(t)))\" y2=\"\(px(Y(t)))\" stroke=\"#e4e4e4\"/>"
            s += "<text x=\"\(px(left - 5))\" y=\"\(px(Y(t) + 4))\" text-anchor=\"end\" class=\"tk\">\(num(t))</text>"
        }
        return s
    }

    /// A map of unit values as a square grid of cells (or one row when the count is not a square),
    /// coloured from white (0) to `color` (the largest value of `scale`), with optional marked cells.
    static func unitGrid(_ values: [Float], scaleMax: Float, scaleMin: Float = 0, color: (r: Int, g: Int, b: Int),
                         marked: Set<Int> = [], cell: Double = 12, title: String, id: String? = nil) -> String {
        let n = values.count
        let side = Int(Double(n).squareRoot().rounded())
        let (cols, rows) = side * side == n ? (side, side) : (n, 1)
        let w = Double(cols) * cell, h = Double(rows) * cell
        var s = "<svg\(id.map { " id=\"\(HTML.attr($0))\"" } ?? "") data-kind=\"unit-map\" class=\"um\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(px(w)) \(px(h))\" width=\"\(px(w))\" height=\"\(px(h))\">"
        s += "<title>\(HTML.text(title))</title>"
        let span = max(scaleMax - scaleMin, 1e-12)
        for (i, v) in values.enumerated() {
            let t = Double(min(max((v - scaleMin) / span, 0), 1))
            let r = Int(255 - t * Double(255 - color.r)), g = Int(255 - t * Double(255 - color.g)), b = Int(255 - t * Double(255 - color.b))
            let x = Double(i % cols) * cell, y = Double(i / cols) * cell
            s += "<rect x=\"\(px(x))\" y=\"\(px(y))\" width=\"\(px(cell))\" height=\"\(px(cell))\" fill=\"rgb(\(r),\(g),\(b))\"/>"
            if marked.contains(i) { s += "<circle cx=\"\(px(x + cell / 2))\" cy=\"\(px(y + cell / 2))\" r=\"\(px(cell / 5))\" fill=\"#fff\" stroke=\"#000\"/>" }
        }
        return s + "<rect x=\"0\" y=\"0\" width=\"\(px(w))\" height=\"\(px(h))\" fill=\"none\" stroke=\"#888\"/></svg>"
    }
}

/// HTML escaping: everything read from a file goes through these.
enum HTML {
    static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
    static func attr(_ s: String) -> String { text(s) }
}
