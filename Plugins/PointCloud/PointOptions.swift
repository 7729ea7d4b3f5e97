// The point-cloud plugin's options, parsed and checked once.
import KDCore

/// Options for opening a point-cloud collection (every value is recorded in the dataset's settings).
public struct PointOptions: Sendable, Equatable {
    /// Points sampled per object (Method.md §7: 1024).
    public var points = 1024
    /// Background points injected per object (500), 0 for none.
    public var background = 500
    /// Clouds of other classes the background is taken from (5).
    public var backgroundClouds = 5
    /// Share of a catalogue's objects put in the test split (catalogues have no split of their own).
    public var testFraction = 0.2
    public var seed: UInt64 = 0
    /// Classes to keep (nil: all).
    public var classes: [String]? = nil
    /// Most objects per split (0: all), the first ones in listing order.
    public var maxPerSplit = 0

    public init() {}

    static let pluginOptions: [PluginOption] = [
        PluginOption("points", default: "1024", help: "Points sampled per object (by triangle area from meshes; the first rows of point lists)."),
        PluginOption("background", default: "500", help: "Background points injected per object from other objects' clouds (0: none). Archives built by `kd-tool dataset point-background` carry their own counts."),
        PluginOption("background-clouds", default: "5", help: "Clouds of other classes (same split) the background points are picked from."),
        PluginOption("test-fraction", default: "0.2", help: "Share of each class put in the test split, for Sweet Home 3D catalogues (which have no split)."),
        PluginOption("seed", default: "0", help: "Seed of the surface sampling, the catalogue split and the background injection."),
        PluginOption("classes", default: "", help: "Comma-separated classes to keep (default all)."),
        PluginOption("max-per-split", default: "0", help: "Most objects per split, in listing order (0: all)."),
    ]

    public init(parsing o: [String: String]) throws {
        func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let v = Int(o[name] ?? ""), range.contains(v) else {
                throw PointCollectionError.badOption(name: name, value: o[name] ?? "", expected: "an integer in \(range.lowerBound)…\(range.upperBound)")
            }
            return v
        }
        points = try int("points", 16...65_536)
        background = try int("background", 0...65_536)
        backgroundClouds = try int("background-clouds", 1...64)
        maxPerSplit = try int("max-per-split", 0...10_000_000)
        guard let f = Double(o["test-fraction"] ?? ""), f >= 0, f < 1 else {
            throw PointCollectionError.badOption(name: "test-fraction", value: o["test-fraction"] ?? "", expected: "a number in [0, 1)")
        }
        testFraction = f
        guard let s = UInt64(o["seed"] ?? "") else {
            throw PointCollectionError.badOption(name: "seed", value: o["seed"] ?? "", expected: "a non-negative integer")
        }
        seed = s
        let list = (o["classes"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        classes = list.isEmpty ? nil : list
    }
}
