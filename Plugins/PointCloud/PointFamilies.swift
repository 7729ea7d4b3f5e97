import KDCore

// Point-cloud network families. Input: (B, N, 3), points laid out (B, N, C) so one point's channels are
// contiguous (see PointLayers.swift in KDCore).

/// The model families of the point-cloud plugin.
public enum PointFamilies {
    public static var all: [ModelFamily] { [pointNet, dgcnn] }

    /// DGCNN-like, small: EdgeConv 3 → 64·w, EdgeConv → 64·w, EdgeConv → 128·w (k = 10 neighbours in the
    /// previous layer's feature space, graph recomputed per layer), a shared Linear → 256·w with BatchNorm
    /// and ReLU, the max over points, then the same head as pointnet-s (fc1 256 → BN → ReLU → fc2 128 →
    /// BN → ReLU → fc3). Unlike DGCNN it does not concatenate the EdgeConv outputs and uses no LeakyReLU
    /// or BatchNorm inside EdgeConv. b = 0.25 (Method.md §3). Taps: relu_fc1, relu_fc2, fc3.
    ///
    /// ### References
    /// Wang, Sun, Liu, Sarma, Bronstein, Solomon, "Dynamic Graph CNN for Learning on Point Clouds", ACM TOG 2019.
    public static var dgcnn: ModelFamily {
        ModelFamily(name: "dgcnn-s", summary: "DGCNN-like: 3 EdgeConv (k = 10, 64–128 × width), shared 256 × width, max over points, fc 256→128→classes",
                    taps: ["relu_fc1", "relu_fc2", "fc3"], threshold: 0.25) { shape, classes, width, seed in
            try checkInput(shape)
            var g = SeededGenerator(seed: seed)
            let w = { (c: Int) in max(8, Int((Double(c) * width).rounded())) }
            let k = 10
            return Model(name: "dgcnn-s", inputShape: shape, layers: [
                ("edge1", EdgeConv(shape[1], w(64), neighbours: k, generator: &g)),
                ("edge2", EdgeConv(w(64), w(64), neighbours: k, generator: &g)),
                ("edge3", EdgeConv(w(64), w(128), neighbours: k, generator: &g)),
                ("point", Linear(w(128), w(256), bias: false, generator: &g)), ("bn_point", BatchNorm(w(256))), ("relu_point", ReLU()),
                ("maxpool", MaxOverPoints()),
                ("fc1", Linear(w(256), fc1Width, bias: false, generator: &g)), ("bn_fc1", BatchNorm(fc1Width)), ("relu_fc1", ReLU()),
                ("fc2", Linear(fc1Width, fc2Width, bias: false, generator: &g)), ("bn_fc2", BatchNorm(fc2Width)), ("relu_fc2", ReLU()),
                ("fc3", Linear(fc2Width, classes, generator: &g)),
            ])
        }
    }

    /// The width of fc1 in every family, whatever the student width, so fc1 distillation needs no adapter.
    public static let fc1Width = 256
    public static let fc2Width = 128

    /// PointNet-like (without the input and feature transforms): a shared per-point MLP
    /// 3 → 64·w → 128·w → 256·w (Linear + BatchNorm + ReLU each, as PointNet), the max over points, then
    /// fc1 (256) → BatchNorm → ReLU → fc2 (128) → BatchNorm → ReLU → fc3 (classes). b = 0.5 (Method.md §3).
    /// Without the BatchNorms the network barely moves from chance in the quickstart's 30 SGD epochs.
    ///
    /// Taps are the ReLU outputs, as in the e2 benchmark: "relu_fc1" (after fc1, the default) and
    /// "relu_fc2"; "fc3" (the logits) too. The benchmark's e2 network is this family with a last
    /// point width of 512 (w = 2 here) and 40 classes.
    ///
    /// ### References
    /// Qi, Su, Mo, Guibas, "PointNet: Deep Learning on Point Sets for 3D Classification and Segmentation", CVPR 2017.
    public static var pointNet: ModelFamily {
        ModelFamily(name: "pointnet-s", summary: "PointNet-like: shared MLP 3→64→128→256 (× width), max over points, fc 256→128→classes",
                    taps: ["relu_fc1", "relu_fc2", "fc3"], threshold: 0.5) { shape, classes, width, seed in
            try checkInput(shape)
            var g = SeededGenerator(seed: seed)
            let w = { (c: Int) in max(8, Int((Double(c) * width).rounded())) }
            let widths = [shape[1], w(64), w(128), w(256)]
            var mlp: [(String, Layer)] = []
            for i in 0..<(widths.count - 1) {
                mlp += [("linear\(i)", Linear(widths[i], widths[i + 1], bias: false, generator: &g)),
                        ("bn\(i)", BatchNorm(widths[i + 1])), ("relu\(i)", ReLU())]
            }
            return Model(name: "pointnet-s", inputShape: shape, layers: [
                ("mlp", Sequential(mlp)),
                ("maxpool", MaxOverPoints()),
                ("fc1", Linear(widths.last!, fc1Width, bias: false, generator: &g)), ("bn_fc1", BatchNorm(fc1Width)), ("relu_fc1", ReLU()),
                ("fc2", Linear(fc1Width, fc2Width, bias: false, generator: &g)), ("bn_fc2", BatchNorm(fc2Width)), ("relu_fc2", ReLU()),
                ("fc3", Linear(fc2Width, classes, generator: &g)),
            ])
        }
    }

    static func checkInput(_ shape: [Int]) throws {
        guard shape.count == 2, shape[0] >= 1, shape[1] == 3 else { throw PointFamilyError.unsupportedInput(shape) }
    }
}

public enum PointFamilyError: Error, CustomStringConvertible, Equatable {
    case unsupportedInput([Int])
    public var description: String {
        switch self {
        case let .unsupportedInput(s):
            return "the point-cloud families need an input of (points, 3), got \(s); open a point-cloud collection with the point-cloud plugin"
        }
    }
}
