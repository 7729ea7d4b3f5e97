// Pictures of analysed point clouds: orthographic views, painter's order.
import Foundation
import KDCore
import KDDatasets

/// Renders a cloud and its entropy maps as one picture.
///
/// Layout: one row per panel (network), in the order given, and a first row showing the cloud itself
/// (object points black, injected background points grey); three columns, the same three fixed
/// viewpoints in every row (azimuth/elevation 0°/0°, 90°/0°, 45°/30°, orthographic, the y axis up on
/// screen). Points are drawn far to near (painter's order). In result rows every point is coloured by its
/// entropy on one scale shared by the whole picture (dark blue = high entropy, information discarded;
/// yellow = low entropy, information kept); knowledge points get a larger dot with a red rim; background
/// points are drawn hollow with a grey rim, so they stay distinguishable whatever their colour.
public enum PointPictures {
    public static let views: [(azimuth: Double, elevation: Double)] = [(0, 0), (90, 0), (45, 30)]

    public static func render(points: [Float], roles: [UnitRole], panels: [ResultPanel], side: Int = 160) -> RGBImage {
        let n = points.count / 3
        let gap = 4
        let rows = panels.count + 1, columns = views.count
        let width = columns * side + (columns + 1) * gap, height = rows * side + (rows + 1) * gap
        var out = [UInt8](repeating: 255, count: width * height * 3)
        func put(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            let i = (y * width + x) * 3
            out[i] = c.0; out[i + 1] = c.1; out[i + 2] = c.2
        }
        func disc(_ cx: Int, _ cy: Int, _ r: Int, fill: (UInt8, UInt8, UInt8)?, rim: (UInt8, UInt8, UInt8)) {
            for dy in -r...r { for dx in -r...r {
                let d2 = dx * dx + dy * dy
                if d2 > r * r { continue }
                if d2 >= (r - 1) * (r - 1) { put(cx + dx, cy + dy, rim) } else if let fill { put(cx + dx, cy + dy, fill) }
            } }
        }
        let analysed = roles.indices.filter { roles[$0] != .ignored }
        let all = panels.flatMap { p in analysed.compactMap { $0 < p.entropies.count ? p.entropies[$0] : nil } }
        let lo = all.min() ?? 0, hi = max(all.max() ?? 1, (all.min() ?? 0) + 1e-6)
        for (v, view) in views.enumerated() {
            let a = view.azimuth * .pi / 180, e = view.elevation * .pi / 180
            // Screen x, screen y (up) and depth (towards the viewer) of every point.
            var projected: [(x: Double, y: Double, depth: Double, index: Int)] = []
            for i in 0..<n where roles[i] != .ignored {
                let (px, py, pz) = (Double(points[3 * i]), Double(points[3 * i + 1]), Double(points[3 * i + 2]))
                let sx = cos(a) * px - sin(a) * pz
                let z1 = sin(a) * px + cos(a) * pz
                let sy = cos(e) * py - sin(e) * z1
                let depth = sin(e) * py + cos(e) * z1
                projected.append((sx, sy, depth, i))
            }
            projected.sort { ($0.depth, $0.index) < ($1.depth, $1.index) }
            for row in 0..<rows {
                let ox = gap + v * (side + gap), oy = gap + row * (side + gap)
                for x in 0..<side { put(ox + x, oy, (220, 220, 220)); put(ox + x, oy + side - 1, (220, 220, 220)) }
                for y in 0..<side { put(ox, oy + y, (220, 220, 220)); put(ox + side - 1, oy + y, (220, 220, 220)) }
                let half = Double(side) / 2 - 6
                for p in projected {
                    let cx = ox + Int((Double(side) / 2 + p.x * half).rounded()), cy = oy + Int((Double(side) / 2 - p.y * half).rounded())
                    let background = roles[p.index] == .background
                    if row == 0 {
                        disc(cx, cy, 2, fill: background ? nil : (0, 0, 0), rim: background ? (150, 150, 150) : (0, 0, 0))
                        continue
                    }
                    let panel = panels[row - 1]
                    guard p.index < panel.entropies.count else { continue }
                    let t = Double((panel.entropies[p.index] - lo) / (hi - lo))
                    let colour = viridis(1 - t)
                    let kp = p.index < panel.knowledgePoints.count && panel.knowledgePoints[p.index]
                    if kp { disc(cx, cy, 4, fill: colour, rim: (220, 0, 0)) }
                    else if background { disc(cx, cy, 3, fill: colour, rim: (140, 140, 140)) }
                    else { disc(cx, cy, 2, fill: colour, rim: colour) }
                }
            }
        }
        return RGBImage(width: width, height: height, channels: 3, pixels: out)
    }

    /// A blue → green → yellow ramp (t = 0 dark blue, 1 yellow).
    static func viridis(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let stops: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let x = min(max(t, 0), 1) * Double(stops.count - 1)
        let k = min(Int(x), stops.count - 2), f = x - Double(k)
        let (a, b) = (stops[k], stops[k + 1])
        return (UInt8(a.0 + (b.0 - a.0) * f), UInt8(a.1 + (b.1 - a.1) * f), UInt8(a.2 + (b.2 - a.2) * f))
    }
}
