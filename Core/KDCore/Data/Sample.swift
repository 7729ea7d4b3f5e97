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

/// What a unit is to the metrics (Docs/Method.md §1, §3).
///
/// *Ignored* units (padding, `[CLS]`/`[SEP]`, a question segment, pad points) are part of the input but
/// take no part in H̄, N_fg, N_bg or λ: the entropy engine adds no noise to them and leaves them out of
/// the entropy term and of the mean entropy used for pinning.
public enum UnitRole: UInt8, Codable, Sendable, CaseIterable {
    case background = 0
    case foreground = 1
    case ignored = 2
}

/// What a sample is trained and scored on.
public enum Target: Sendable, Equatable, Codable {
    /// A class index in `0..<classes`.
    case label(Int)
    /// A span of positions along the sample's first axis (token indices), `start ≤ end`, both inclusive:
    /// extractive question answering. Scored by exact match and F1 over positions.
    case span(start: Int, end: Int)
}

/// The kind of task a dataset poses, which decides the network's output, its loss and its score.
public enum TaskKind: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Output (B, classes) logits; softmax cross-entropy; accuracy.
    case classification(classes: Int)
    /// Output (B, T, 2): start and end logits per position; the sum of the two cross-entropies over the
    /// valid positions; exact match and F1 of the predicted span.
    case span
    public var description: String {
        switch self {
        case let .classification(c): return "classification (\(c) classes)"
        case .span: return "span extraction (start, end)"
        }
    }
}

/// One input as the engine sees it: a tensor (no batch dimension), its units, the role of every unit,
/// its target, and where its parts came from.
///
/// Inputs whose size varies (point counts, sequence lengths) are padded by the dataset to its
/// `sampleShape`; `length` then says how many leading positions along the first axis are real, the
/// padded units are `.ignored`, and layers that mix positions (attention, max over points) receive the
/// lengths through ``LayerContext/validLengths`` so padding never changes a real output.
public struct Sample: @unchecked Sendable {
    /// A stable identifier (e.g. "CUB_200_2011.tgz:images/001.Black_footed_Albatross/…jpg#0").
    public var id: String
    public var input: Tensor
    public var units: UnitMap
    /// `roles[u]` for each unit u (Docs/Method.md §1).
    public var roles: [UnitRole]
    public var target: Target
    /// Real positions along the first axis (the rest is padding); nil when the sample fills its shape.
    public var length: Int?
    /// Where each unit came from, when that is worth keeping (e.g. the cloud an injected background point
    /// was taken from: "chair_0012.off#317"); nil or one entry per unit.
    public var provenance: [String]?

    public init(id: String, input: Tensor, units: UnitMap, roles: [UnitRole], target: Target,
                length: Int? = nil, provenance: [String]? = nil) {
        precondition(units.variableCount == input.count, "unit map covers \(units.variableCount) variables, input has \(input.count)")
        precondition(roles.count == units.unitCount, "roles for \(roles.count) units, map has \(units.unitCount)")
        precondition(provenance == nil || provenance!.count == units.unitCount, "provenance must have one entry per unit")
        self.id = id; self.input = input; self.units = units; self.roles = roles; self.target = target
        self.length = length; self.provenance = provenance
    }

    /// A classification sample with every unit foreground or background (images).
    public init(id: String, input: Tensor, units: UnitMap, foreground: [Bool], label: Int) {
        self.init(id: id, input: input, units: units, roles: foreground.map { $0 ? .foreground : .background },
                  target: .label(label))
    }

    /// `foreground[u]`: the unit is foreground (ignored units are not).
    public var foreground: [Bool] { roles.map { $0 == .foreground } }
    /// Which units the metrics use.
    public var analysed: [Bool] { roles.map { $0 != .ignored } }
    /// The class of a classification sample; −1 for other targets.
    public var label: Int {
        if case let .label(l) = target { return l }
        return -1
    }
}
