import KDCore

// CNN families for grid-unit image analyses, scaled so they train on two CPU cores.
// Input: (B, S, S, 3) NHWC with S ≥ 32. Every family ends in fc1 → fc2 → fc3 (256, 256, classes), so
// the paper's taps "last conv, FC1, FC2, FC3" exist everywhere and students of a smaller width share the
// teacher's FC1 shape (no adapter needed there; a 1×1 adapter is needed at the last conv).

/// The model families of the image plugin.
public enum CNNFamilies {
    /// The fully connected width of fc1 and fc2 in every family.
    public static let hiddenWidth = 256

    public static var all: [ModelFamily] {
        [alexNet, vgg(11), vgg(16), vgg(19), resNet, cnn4]
    }

    /// AlexNet-like: five convs (5×5, 5×5, 3×3 ×3) with three max-pools, then three FC layers.
    /// b = 0.25 (Method.md §3). Taps: the last conv's ReLU output, fc1, fc2, fc3.
    public static var alexNet: ModelFamily {
        ModelFamily(name: "alexnet-s", summary: "AlexNet-like, 5 conv + 3 FC, widths 24–64 × width",
                    taps: ["fc1", "relu5", "fc2", "fc3"], threshold: 0.25) { shape, classes, width, seed in
            try checkInput(shape)
            var g = SeededGenerator(seed: seed)
            let w = { (c: Int) in max(4, Int((Double(c) * width).rounded())) }
            let plan: [(Int, Int, Bool)] = [(w(24), 5, true), (w(48), 5, true), (w(64), 3, false), (w(64), 3, false), (w(48), 3, true)]
            var layers: [(String, Layer)] = []
            var c = shape[2], side = shape[0]
            for (i, (out, k, pool)) in plan.enumerated() {
                layers.append(("conv\(i + 1)", Conv2D(c, out, kernel: k, padding: k / 2, generator: &g)))
                layers.append(("relu\(i + 1)", ReLU()))
                if pool { layers.append(("pool\(i + 1)", MaxPool2D(kernel: 2))); side /= 2 }
                c = out
            }
            layers += head(features: side * side * c, classes: classes, dropout: 0.3, generator: &g)
            return Model(name: "alexnet-s", inputShape: shape, layers: layers)
        }
    }

    /// VGG-11/16/19-like (configurations A, D, E) with BatchNorm after every conv, channel widths 16–128
    /// (× width) instead of 64–512, five max-pools, then three FC layers. Taps: the last conv's ReLU, fc1–fc3.
    public static func vgg(_ depth: Int) -> ModelFamily {
        let config: [[Int]]
        switch depth {
        case 11: config = [[16], [32], [64, 64], [128, 128], [128, 128]]
        case 16: config = [[16, 16], [32, 32], [64, 64, 64], [128, 128, 128], [128, 128, 128]]
        default: config = [[16, 16], [32, 32], [64, 64, 64, 64], [128, 128, 128, 128], [128, 128, 128, 128]]
        }
        let convs = config.joined().count
        return ModelFamily(name: "vgg\(depth)-s", summary: "VGG-\(depth)-like with BatchNorm, widths 16–128 × width",
                           taps: ["fc1", "relu\(convs)", "fc2", "fc3"]) { shape, classes, width, seed in
            try checkInput(shape)
            var g = SeededGenerator(seed: seed)
            var layers: [(String, Layer)] = []
            var c = shape[2], side = shape[0], i = 0
            for (b, block) in config.enumerated() {
                for base in block {
                    i += 1
                    let out = max(4, Int((Double(base) * width).rounded()))
                    layers.append(("conv\(i)", Conv2D(c, out, kernel: 3, padding: 1, bias: false, generator: &g)))
                    layers.append(("bn\(i)", BatchNorm(out)))
                    layers.append(("relu\(i)", ReLU()))
                    c = out
                }
                if side >= 2 { layers.append(("pool\(b + 1)", MaxPool2D(kernel: 2))); side /= 2 }
            }
            layers += head(features: side * side * c, classes: classes, dropout: 0, generator: &g)
            return Model(name: "vgg\(depth)-s", inputShape: shape, layers: layers)
        }
    }

    /// ResNet-18-like (four stages of two basic blocks, widths 16–128 × width) plus the paper's two extra
    /// conv layers and two extra FC layers before the classifier. α = 6 (Method.md §2).
    /// Taps: the last extra conv's ReLU ("relu_extra2"), fc1, fc2, fc3.
    public static var resNet: ModelFamily {
        ModelFamily(name: "resnet18-s", summary: "ResNet-18-like + 2 extra conv + 2 extra FC, widths 16–128 × width",
                    taps: ["fc1", "relu_extra2", "fc2", "fc3"], alpha: 6) { shape, classes, width, seed in
            try checkInput(shape)
            var g = SeededGenerator(seed: seed)
            let w = { (c: Int) in max(4, Int((Double(c) * width).rounded())) }
            var layers: [(String, Layer)] = [
                ("stem", Conv2D(shape[2], w(16), kernel: 3, padding: 1, bias: false, generator: &g)),
                ("stem_bn", BatchNorm(w(16))), ("stem_relu", ReLU()),
            ]
            var c = w(16), side = shape[0]
            for (s, base) in [16, 32, 64, 128].enumerated() {
                for b in 0..<2 {
                    let stride = (s > 0 && b == 0) ? 2 : 1
                    let out = w(base)
                    let body = Sequential([
                        ("conv1", Conv2D(c, out, kernel: 3, stride: stride, padding: 1, bias: false, generator: &g)),
                        ("bn1", BatchNorm(out)), ("relu1", ReLU()),
                        ("conv2", Conv2D(out, out, kernel: 3, padding: 1, bias: false, generator: &g)),
                        ("bn2", BatchNorm(out)),
                    ])
                    let shortcut: Layer? = (stride != 1 || c != out)
                        ? Sequential([("conv", Conv2D(c, out, kernel: 1, stride: stride, bias: false, generator: &g)),
                                      ("bn", BatchNorm(out))])
                        : nil
                    layers.append(("stage\(s + 1)_block\(b + 1)", Residual(body: body, shortcut: shortcut)))
                    layers.append(("stage\(s + 1)_relu\(b + 1)", ReLU()))
                    if stride == 2 { side = (side - 1) / 2 + 1 }
                    c = out
                }
            }
            for e in 1...2 {
                layers.append(("extra\(e)", Conv2D(c, c, kernel: 3, padding: 1, bias: false, generator: &g)))
                layers.append(("extra\(e)_bn", BatchNorm(c)))
                layers.append(("relu_extra\(e)", ReLU()))
            }
            layers.append(("pool", GlobalAvgPool()))
            layers += head(features: c, classes: classes, dropout: 0, generator: &g)
            return Model(name: "resnet18-s", inputShape: shape, layers: layers)
        }
    }

    /// A compact CNN for inputs of 64 pixels and more, where the other families' cost grows with the pixel
    /// count: a "patchify" stem (a 4×4 convolution with stride 4, as in vision transformers and ConvNeXt:
    /// each output pixel sees one 4×4 patch, which on a 16×16 grid of a 64×64 image is one grid cell), then
    /// three 3×3 convs each followed by a max-pool (at 64×64: 16², 8², 4², then 2² into fc1), BatchNorm
    /// after every conv, widths 16–128 (× width). About 3.7 M multiply–adds per 64×64 image, a third of
    /// vgg11-s at 32×32; the network of the larger Table-5 reproduction (Docs/Reproducing.md).
    /// Taps: the last conv's ReLU ("relu4"), fc1, fc2, fc3.
    public static var cnn4: ModelFamily {
        ModelFamily(name: "cnn4-s", summary: "Compact CNN for ≥ 64-pixel inputs: 4×4 stride-4 patchify stem, 3 conv + BatchNorm + max-pool, widths 16–128 × width",
                    taps: ["fc1", "relu4", "fc2", "fc3"]) { shape, classes, width, seed in
            try checkInput(shape)
            var g = SeededGenerator(seed: seed)
            let w = { (c: Int) in max(4, Int((Double(c) * width).rounded())) }
            var layers: [(String, Layer)] = []
            var c = shape[2], side = shape[0]
            for (i, base) in [16, 32, 64, 128].enumerated() {
                let out = w(base)
                let conv = i == 0
                    ? Conv2D(c, out, kernel: 4, stride: 4, bias: false, generator: &g)
                    : Conv2D(c, out, kernel: 3, padding: 1, bias: false, generator: &g)
                layers.append(("conv\(i + 1)", conv))
                layers.append(("bn\(i + 1)", BatchNorm(out)))
                layers.append(("relu\(i + 1)", ReLU()))
                if i == 0 { side /= 4 } else if side >= 2 { layers.append(("pool\(i + 1)", MaxPool2D(kernel: 2))); side /= 2 }
                c = out
            }
            layers += head(features: side * side * c, classes: classes, dropout: 0, generator: &g)
            return Model(name: "cnn4-s", inputShape: shape, layers: layers)
        }
    }

    /// fc1 → ReLU → fc2 → ReLU → fc3, preceded by a flatten (and optional dropout after each ReLU).
    static func head(features: Int, classes: Int, dropout: Float, generator g: inout SeededGenerator) -> [(String, Layer)] {
        var l: [(String, Layer)] = [("flatten", Flatten()),
                                    ("fc1", Linear(features, hiddenWidth, generator: &g)), ("relu_fc1", ReLU())]
        if dropout > 0 { l.append(("drop1", Dropout(rate: dropout))) }
        l += [("fc2", Linear(hiddenWidth, hiddenWidth, generator: &g)), ("relu_fc2", ReLU())]
        if dropout > 0 { l.append(("drop2", Dropout(rate: dropout))) }
        l.append(("fc3", Linear(hiddenWidth, classes, generator: &g)))
        return l
    }

    static func checkInput(_ shape: [Int]) throws {
        guard shape.count == 3, shape[0] == shape[1], shape[0] >= 32, shape[2] >= 1 else {
            throw FamilyError.unsupportedInput(shape)
        }
    }
}

public enum FamilyError: Error, CustomStringConvertible, Equatable {
    case unsupportedInput([Int])
    public var description: String {
        switch self {
        case let .unsupportedInput(s):
            return "the CNN families need a square image input of side ≥ 32 with channels last, got \(s); set the plugin option image-size to 32 or more"
        }
    }
}
