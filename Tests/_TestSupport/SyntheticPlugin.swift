import Foundation
import KDCore

/// A tiny modality that exists only to prove the plugin protocol end to end (not part of the product).
///
/// Its "archive" is a text file:
/// ```
/// KDSYNTH 1
/// size 8
/// <split> <label> <x> <y> <side>      one line per sample: a bright square on a dim textured field
/// ```
/// Class 0 squares sit in the left half, class 1 in the right half. Units: a 4×4 grid of 2×2 cells;
/// a cell is foreground when at least half its pixels are in the square.
public final class SyntheticSquaresPlugin: ModalityPlugin {
    public init() {}
    public let name = "synthetic-squares"
    public let summary = "Bright squares on a textured field (test-only plugin)."
    public let defaults = PluginDefaults(threshold: 0.2, alpha: 1, family: "tiny-mlp")
    public let options = [PluginOption("grid", default: "4", help: "cells per side")]

    public var families: [ModelFamily] {
        [ModelFamily(name: "tiny-mlp", summary: "flatten → fc1 → relu → fc2", taps: ["relu1", "fc2"]) { shape, classes, width, seed in
            var g = SeededGenerator(seed: seed)
            let n = shape.reduce(1, *), hidden = max(4, Int(16 * width))
            return Model(name: "tiny-mlp", inputShape: shape, layers: [
                ("flatten", Flatten()), ("fc1", Linear(n, hidden, generator: &g)), ("relu1", ReLU()),
                ("fc2", Linear(hidden, classes, generator: &g)),
            ])
        }]
    }

    public func recognise(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 9)) ?? Data()
        return head == Data("KDSYNTH 1".utf8) ? "synthetic squares v1" : nil
    }

    struct Bad: Error, CustomStringConvertible { let description: String }

    public func open(_ path: String, options given: [String: String]) throws -> DatasetSource {
        let options = try resolveOptions(given)
        guard let grid = Int(options["grid"]!), grid >= 1 else {
            throw PluginError.badOption("grid", plugin: name, value: options["grid"]!, expected: "a positive integer")
        }
        guard recognise(path) != nil, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Bad(description: "\(path): not a synthetic-squares file (expected first line 'KDSYNTH 1')")
        }
        var lines = text.split(separator: "\n").dropFirst()
        guard let sizeLine = lines.first, sizeLine.hasPrefix("size "), let size = Int(sizeLine.dropFirst(5)), size % grid == 0 else {
            throw Bad(description: "\(path): line 2 must be 'size N' with N a multiple of the grid")
        }
        lines = lines.dropFirst()
        var rows: [Split: [[Int]]] = [.train: [], .test: []]
        for (i, l) in lines.enumerated() {
            let f = l.split(separator: " ")
            guard f.count == 5, let split = Split(rawValue: String(f[0])) else {
                throw Bad(description: "\(path): line \(i + 3): expected '<split> <label> <x> <y> <side>'")
            }
            rows[split]!.append(f.dropFirst().map { Int($0)! })
        }
        return Source(path: path, size: size, grid: grid, rows: rows)
    }

    final class Source: DatasetSource {
        let path: String, size: Int, grid: Int, rows: [Split: [[Int]]]
        init(path: String, size: Int, grid: Int, rows: [Split: [[Int]]]) {
            self.path = path; self.size = size; self.grid = grid; self.rows = rows
        }
        var name: String { "synthetic squares" }
        var isComposite: Bool { true }
        var classNames: [String] { ["left", "right"] }
        var sampleShape: [Int] { [size, size, 1] }
        var settings: [String: String] { ["grid": "\(grid)"] }
        func count(_ split: Split) -> Int { rows[split]!.count }

        func sample(_ split: Split, _ index: Int) throws -> Sample {
            guard let r = rows[split], index >= 0, index < r.count else {
                throw Bad(description: "\(path): no \(split) sample \(index)")
            }
            let (label, x0, y0, side) = (r[index][0], r[index][1], r[index][2], r[index][3])
            var g = SeededGenerator(seed: UInt64(index), stream: split == .train ? 1 : 2)
            let t = Tensor(shape: [size, size, 1])
            var inside = [Bool](repeating: false, count: size * size)
            for y in 0..<size { for x in 0..<size {
                let fg = x >= x0 && x < x0 + side && y >= y0 && y < y0 + side
                inside[y * size + x] = fg
                t[y * size + x] = fg ? 1 : 0.2 * g.uniform()
            } }
            let units = UnitMap.grid(height: size, width: size, channels: 1, cells: grid)
            var count = [Int](repeating: 0, count: units.unitCount), total = units.unitSizes
            for p in 0..<(size * size) where inside[p] { count[Int(units.unitOf[p])] += 1 }
            let fg = (0..<units.unitCount).map { 2 * count[$0] >= total[$0] }
            return Sample(id: "\(path):\(split)#\(index)", input: t, units: units, foreground: fg, label: label)
        }
    }

    /// Writes a synthetic-squares file with `perSplit` samples in each split.
    public static func write(to path: String, perSplit: Int, size: Int = 8, seed: UInt64 = 1) throws {
        var g = SeededGenerator(seed: seed)
        var text = "KDSYNTH 1\nsize \(size)\n"
        for split in Split.allCases {
            for i in 0..<perSplit {
                let label = i % 2, side = 2 + Int(g.next() % 2)
                let half = size / 2
                let x = label * half + Int(g.next() % UInt64(half - side + 1))
                let y = Int(g.next() % UInt64(size - side + 1))
                text += "\(split.rawValue) \(label) \(x) \(y) \(side)\n"
            }
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
