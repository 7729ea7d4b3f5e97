// Samples and unit maps: the modality-independent view of one analysed input.

/// Assigns every variable of one input sample to exactly one input unit (Method.md §1): a grid cell of
/// an image, a point of a cloud, a token of a text. One generic mechanism for all modalities.
public struct UnitMap: Sendable, Equatable {
    /// `unitOf[v]` is the unit of input variable `v` (row-major over the sample's shape).
    public let unitOf: [Int32]
    public let unitCount: Int

    public init(unitOf: [Int32], unitCount: Int) {
        precondition(unitOf.allSatisfy { $0 >= 0 && Int($0) < unitCount }, "unit index out of range")
        self.unitOf = unitOf
        self.unitCount = unitCount
    }

    public var variableCount: Int { unitOf.count }

    /// A G×G grid of cells over an (H, W, C) image: all channels of a cell belong to it. Cell (gy, gx)
    /// covers rows ⌊gy·H/G⌋ ..< ⌊(gy+1)·H/G⌋ (likewise columns), so uneven sizes still tile exactly.
    /// Unit index = gy·G + gx.
    public static func grid(height: Int, width: Int, channels: Int, cells g: Int) -> UnitMap {
        precondition(g >= 1 && g <= height && g <= width, "grid \(g) does not fit \(height)×\(width)")
        var map = [Int32](repeating: 0, count: height * width * channels)
        for y in 0..<height {
            let gy = y * g / height
            for x in 0..<width {
                let gx = x * g / width
                let u = Int32(gy * g + gx)
                for c in 0..<channels { map[(y * width + x) * channels + c] = u }
            }
        }
        return UnitMap(unitOf: map, unitCount: g * g)
    }

    /// Rows of a (N, D) input as units: one point (D = 3) or one token embedding per unit.
    public static func rows(_ n: Int, width d: Int) -> UnitMap {
        var map = [Int32](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { map[i * d + j] = Int32(i) } }
        return UnitMap(unitOf: map, unitCount: n)
    }

    /// Number of variables in each unit.
    public var unitSizes: [Int] {
        var s = [Int](repeating: 0, count: unitCount)
        for u in unitOf { s[Int(u)] += 1 }
        return s
    }
}

/// One input as the engine sees it: a tensor (no batch dimension), its units, which units are
/// foreground, its class, and where it came from.
public struct Sample: @unchecked Sendable {
    /// A stable identifier (e.g. "CUB_200_2011.tgz:images/001.Black_footed_Albatross/…jpg#0").
    public var id: String
    public var input: Tensor
    public var units: UnitMap
    /// `foreground[u]` for each unit u (Method.md §1).
    public var foreground: [Bool]
    public var label: Int

    public init(id: String, input: Tensor, units: UnitMap, foreground: [Bool], label: Int) {
        precondition(units.variableCount == input.count, "unit map covers \(units.variableCount) variables, input has \(input.count)")
        precondition(foreground.count == units.unitCount, "fg labels for \(foreground.count) units, map has \(units.unitCount)")
        self.id = id; self.input = input; self.units = units; self.foreground = foreground; self.label = label
    }
}
