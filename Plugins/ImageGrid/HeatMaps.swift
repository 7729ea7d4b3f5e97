import Foundation
import KDCore
import KDDatasets

/// Entropy heat maps over input images, as PNG.
///
/// One picture per input: the crop with its foreground outline, then one panel per network. In a panel
/// each grid cell is coloured by its entropy H_i on one scale shared by all panels of the picture (dark
/// blue = high entropy, information discarded; yellow = low entropy, information kept), blended with the
/// image; knowledge points (H̄ − H_i > b) carry a white dot with a black rim, and the foreground outline is
/// drawn in green. The scale's ends (nats) are written under the picture.
public enum HeatMaps {
    public struct Panel {
        public var title: String
        public var entropies: [Float]
        public var knowledgePoints: [Bool]
        public init(title: String, entropies: [Float], knowledgePoints: [Bool]) {
            self.title = title; self.entropies = entropies; self.knowledgePoints = knowledgePoints
        }
    }

    /// Renders the picture. `image` is the S×S crop, `mask` its S·S 0/1 object mask, `grid` G.
    public static func render(image: RGBImage, mask: [UInt8], grid: Int, panels: [Panel], scale: Int = 4) -> RGBImage {
        let s = image.width, cell = s * scale
        let gap = 6, label = 12, footer = 12
        let width = (panels.count + 1) * cell + panels.count * gap
        let height = label + cell + footer
        var out = [UInt8](repeating: 255, count: width * height * 3)
        func put(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = (y * width + x) * 3
            out[i] = c.0; out[i + 1] = c.1; out[i + 2] = c.2
        }
        let all = panels.flatMap(\.entropies)
        let lo = all.min() ?? 0, hi = max(all.max() ?? 1, (all.min() ?? 0) + 1e-6)
        func pixel(_ x: Int, _ y: Int) -> (Double, Double, Double) {
            let c = image.channels
            let i = (y * s + x) * c
            let r = Double(image.pixels[i]), g = Double(image.pixels[i + min(1, c - 1)]), b = Double(image.pixels[i + min(2, c - 1)])
            return (r, g, b)
        }
        func isEdge(_ x: Int, _ y: Int) -> Bool {
            guard mask[y * s + x] != 0 else { return false }
            for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                let nx = x + dx, ny = y + dy
                if nx < 0 || ny < 0 || nx >= s || ny >= s || mask[ny * s + nx] == 0 { return true }
            }
            return false
        }
        for p in 0...panels.count {
            let ox = p * (cell + gap), oy = label
            text(p == 0 ? "INPUT" : panels[p - 1].title, x: ox, y: 2, put: put)
            for y in 0..<cell { for x in 0..<cell {
                let ix = x / scale, iy = y / scale
                var (r, g, b) = pixel(ix, iy)
                if p > 0 {
                    let panel = panels[p - 1]
                    let u = (iy * grid / s) * grid + (ix * grid / s)
                    let t = Double((panel.entropies[u] - lo) / (hi - lo))
                    let c = colour(1 - t)
                    let gray = 0.3 * r + 0.59 * g + 0.11 * b
                    r = 0.35 * gray + 0.65 * c.0; g = 0.35 * gray + 0.65 * c.1; b = 0.35 * gray + 0.65 * c.2
                }
                put(ox + x, oy + y, (UInt8(max(0, min(255, r))), UInt8(max(0, min(255, g))), UInt8(max(0, min(255, b)))))
                if isEdge(ix, iy) { put(ox + x, oy + y, (40, 220, 60)) }
            } }
            if p > 0 {
                let panel = panels[p - 1], cellPx = Double(cell) / Double(grid)
                let radius = max(1.5, cellPx * 0.22)
                for u in 0..<(grid * grid) where panel.knowledgePoints[u] {
                    let cx = (Double(u % grid) + 0.5) * cellPx, cy = (Double(u / grid) + 0.5) * cellPx
                    let rr = Int(radius.rounded(.up)) + 1
                    for dy in -rr...rr { for dx in -rr...rr {
                        let d = (Double(dx * dx + dy * dy)).squareRoot()
                        if d <= radius { put(ox + Int(cx) + dx, oy + Int(cy) + dy, d <= radius - 1 ? (255, 255, 255) : (0, 0, 0)) }
                    } }
                }
            }
        }
        text(String(format: "H %.2f..%.2f NATS", lo, hi), x: cell + gap, y: label + cell + 2, put: put)
        return RGBImage(width: width, height: height, channels: 3, pixels: out)
    }

    /// A perceptually ordered ramp from dark blue (0) through magenta and orange to yellow (1).
    static func colour(_ t: Double) -> (Double, Double, Double) {
        let stops: [(Double, Double, Double)] = [(20, 20, 90), (120, 30, 140), (220, 70, 70), (250, 160, 30), (250, 240, 80)]
        let x = max(0, min(1, t)) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Double(i)
        let a = stops[i], b = stops[i + 1]
        return (a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1), a.2 + f * (b.2 - a.2))
    }

    /// Draws upper-case text with a 3×5 pixel font (scaled ×2), enough for panel titles and the scale.
    static func text(_ s: String, x: Int, y: Int, put: (Int, Int, (UInt8, UInt8, UInt8)) -> Void) {
        var cx = x
        for ch in s.uppercased() {
            if let rows = font[ch] {
                for (ry, row) in rows.enumerated() {
                    for rx in 0..<3 where row & (4 >> rx) != 0 {
                        for dy in 0..<2 { for dx in 0..<2 { put(cx + rx * 2 + dx, y + ry * 2 + dy, (0, 0, 0)) } }
                    }
                }
            }
            cx += 8
        }
    }

    /// 3×5 glyphs, one 3-bit row each (bit 2 = left column).
    static let font: [Character: [Int]] = [
        "A": [2, 5, 7, 5, 5], "B": [6, 5, 6, 5, 6], "C": [3, 4, 4, 4, 3], "D": [6, 5, 5, 5, 6], "E": [7, 4, 6, 4, 7],
        "F": [7, 4, 6, 4, 4], "G": [3, 4, 5, 5, 3], "H": [5, 5, 7, 5, 5], "I": [7, 2, 2, 2, 7], "J": [1, 1, 1, 5, 2],
        "K": [5, 5, 6, 5, 5], "L": [4, 4, 4, 4, 7], "M": [5, 7, 7, 5, 5], "N": [6, 5, 5, 5, 5], "O": [2, 5, 5, 5, 2],
        "P": [6, 5, 6, 4, 4], "Q": [2, 5, 5, 6, 3], "R": [6, 5, 6, 5, 5], "S": [3, 4, 2, 1, 6], "T": [7, 2, 2, 2, 2],
        "U": [5, 5, 5, 5, 7], "V": [5, 5, 5, 5, 2], "W": [5, 5, 7, 7, 5], "X": [5, 5, 2, 5, 5], "Y": [5, 5, 2, 2, 2],
        "Z": [7, 1, 2, 4, 7], "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [6, 1, 2, 4, 7], "3": [6, 1, 2, 1, 6],
        "4": [5, 5, 7, 1, 1], "5": [7, 4, 6, 1, 6], "6": [3, 4, 7, 5, 7], "7": [7, 1, 1, 2, 2], "8": [7, 5, 7, 5, 7],
        "9": [7, 5, 7, 1, 6], ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0], "(": [1, 2, 2, 2, 1], ")": [4, 2, 2, 2, 4],
        "=": [0, 7, 0, 7, 0], ":": [0, 2, 0, 2, 0], "/": [1, 1, 2, 4, 4], "%": [5, 1, 2, 4, 5],
    ]
}
