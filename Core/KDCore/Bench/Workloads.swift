import Foundation

/// The fixed workloads of Benchmarks.md, so speed can be compared with any other framework.
public enum BenchmarkWorkload: String, CaseIterable, Sendable {
    case e1, e2, e3, t1

    /// Useful GFLOP per σ step as Benchmarks.md counts it (K = 16, forward + input gradient, up to the tap).
    public var usefulGFLOPPerStep: Double {
        switch self {
        case .e1: return 10.16
        case .e2: return 7.22
        case .e3: return 1.81
        case .t1: return 0
        }
    }

    /// The stated forward MACs per input up to the tap (millions), checked against ``MACCount`` in the tests.
    public var statedForwardMMACs: Double {
        switch self {
        case .e1: return 158.7
        case .e2: return 112.8
        case .e3: return 27.3
        case .t1: return 0
        }
    }
}

public enum Workloads {
    /// e1/t1 `vgg-s`: input 64×64×3; conv3×3 (3→32) ReLU conv (32→32) ReLU maxpool2; conv (32→64) ReLU conv
    /// (64→64) ReLU maxpool2; conv (64→128) ReLU conv (128→128) ReLU maxpool2; flatten 8192 → fc1 512 ReLU →
    /// fc2 512 ReLU → fc3 10. Tap: fc1 after ReLU ("relu_fc1").
    public static func vggS(seed: UInt64 = 1, classes: Int = 10) -> Model {
        var g = SeededGenerator(seed: seed)
        var layers: [(String, Layer)] = []
        var c = 3, i = 1
        for (block, width) in [32, 64, 128].enumerated() {
            for _ in 0..<2 {
                layers.append(("conv\(i)", Conv2D(c, width, kernel: 3, padding: 1, generator: &g)))
                layers.append(("relu\(i)", ReLU()))
                c = width; i += 1
            }
            layers.append(("pool\(block + 1)", MaxPool2D(kernel: 2)))
        }
        layers += [
            ("flatten", Flatten()),
            ("fc1", Linear(8192, 512, generator: &g)), ("relu_fc1", ReLU()),
            ("fc2", Linear(512, 512, generator: &g)), ("relu_fc2", ReLU()),
            ("fc3", Linear(512, classes, generator: &g)),
        ]
        return Model(name: "vgg-s", inputShape: [64, 64, 3], layers: layers)
    }

    /// e2 `pointnet-s`: 1524 points × 3; per-point MLP 3→64→128→512 (Linear+ReLU each), max over points →
    /// fc1 256 ReLU → fc2 128 ReLU → fc3 40. Tap: fc1 after ReLU ("relu_fc1").
    public static func pointnetS(seed: UInt64 = 1, points: Int = 1524) -> Model {
        var g = SeededGenerator(seed: seed)
        return Model(name: "pointnet-s", inputShape: [points, 3], layers: [
            ("mlp", Sequential.sharedMLP([3, 64, 128, 512], generator: &g)),
            ("maxpool", MaxOverPoints()),
            ("fc1", Linear(512, 256, generator: &g)), ("relu_fc1", ReLU()),
            ("fc2", Linear(256, 128, generator: &g)), ("relu_fc2", ReLU()),
            ("fc3", Linear(128, 40, generator: &g)),
        ])
    }

    /// e3 `bert-tiny`: 64 tokens × 128 embeddings as the input, learned position embeddings added, 2 pre-LN
    /// encoder layers, 4 heads, FFN 512 with GELU. Tap: the final hidden states ("encoder2").
    public static func bertTiny(seed: UInt64 = 1) -> Model {
        var g = SeededGenerator(seed: seed)
        let pos = PositionalEmbedding(length: 64, dimension: 128)
        g.fillGaussian(pos.weight.value.data, count: pos.weight.value.count, scale: 0.02)
        return Model(name: "bert-tiny", inputShape: [64, 128], layers: [
            ("position", pos),
            ("encoder1", TransformerEncoderLayer(dimension: 128, heads: 4, feedForward: 512, generator: &g)),
            ("encoder2", TransformerEncoderLayer(dimension: 128, heads: 4, feedForward: 512, generator: &g)),
        ])
    }

    /// The model, tap and a random input with its unit map for an entropy workload.
    public static func entropyWorkload(_ w: BenchmarkWorkload, seed: UInt64 = 1) -> (model: Model, tap: String, sample: (Int) -> Sample) {
        switch w {
        case .e1, .t1:
            let m = vggS(seed: seed)
            return (m, "relu_fc1", { i in
                Sample(id: "e1-\(i)", input: randomInput([64, 64, 3], seed: seed &+ UInt64(i)),
                       units: .grid(height: 64, width: 64, channels: 3, cells: 16),
                       foreground: (0..<256).map { ($0 / 16) % 16 >= 4 && ($0 / 16) < 12 && $0 % 16 >= 4 && $0 % 16 < 12 }, label: 0)
            })
        case .e2:
            let m = pointnetS(seed: seed)
            return (m, "relu_fc1", { i in
                Sample(id: "e2-\(i)", input: randomInput([1524, 3], seed: seed &+ UInt64(i)), units: .rows(1524, width: 3),
                       foreground: (0..<1524).map { $0 < 1024 }, label: 0)
            })
        case .e3:
            let m = bertTiny(seed: seed)
            return (m, "encoder2", { i in
                Sample(id: "e3-\(i)", input: randomInput([64, 128], seed: seed &+ UInt64(i)), units: .rows(64, width: 128),
                       foreground: (0..<64).map { $0 % 4 == 0 }, label: 0)
            })
        }
    }

    static func randomInput(_ shape: [Int], seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed ^ 0xBEEF)
        let t = Tensor(shape: shape)
        g.fillGaussian(t.data, count: t.count)
        return t
    }
}

/// Analytic multiply–accumulate counts of a model's forward pass (matrix products only; elementwise work,
/// pooling and normalisation are not counted, as Benchmarks.md counts them).
public enum MACCount {
    /// Forward MACs for one input (batch 1) through layer `through` (inclusive).
    public static func forward(_ model: Model, through: Int? = nil) -> Int {
        var shape = [1] + model.inputShape
        var total = 0
        for (_, l) in model.body.layers[0...(through ?? model.body.layers.count - 1)] {
            total += macs(l, &shape)
        }
        return total
    }

    /// MACs of `layer` for input `shape`, which is advanced to the layer's output shape.
    static func macs(_ layer: Layer, _ shape: inout [Int]) -> Int {
        let input = shape
        defer { shape = layer.outputShape(for: input) }
        switch layer {
        case let l as Linear:
            return input.dropLast().reduce(1, *) * l.inputFeatures * l.outputFeatures
        case let c as Conv2D:
            let out = c.outputShape(for: input)
            return out.dropLast().reduce(1, *) * c.outputChannels * c.kernel * c.kernel * c.inputChannels
        case is MultiHeadSelfAttention:
            let (b, t, d) = (input[0], input[1], input[2])
            return b * t * d * 3 * d + 2 * b * t * t * d + b * t * d * d
        case let r as Residual:
            var s = input
            var n = r.children.first.map { macs($0.1, &s) } ?? 0
            if r.children.count > 1 { var s2 = input; n += macs(r.children[1].1, &s2) }
            return n
        default:
            var s = input, n = 0
            for (_, child) in layer.children { n += macs(child, &s) }
            return n
        }
    }
}
