import Foundation
import KDCore
import KDDatasets

// The point-cloud plugin's optional capabilities: pictures of results, the background-injection builder,
// training-time augmentation, and the default run behind `kd-tool quickstart points`.

extension PointCloudPlugin: ResultPictures {
    public func picture(of sample: Sample, from source: DatasetSource, panels: [ResultPanel]) throws -> [UInt8] {
        guard sample.input.shape.count == 2, sample.input.shape[1] == 3 else {
            throw PluginError.badOption("pictures", plugin: name, value: sample.id, expected: "a point cloud of shape (points, 3)")
        }
        return try PointPictures.render(points: sample.input.array, roles: sample.roles, panels: panels).encodePNG()
    }
}

extension PointCloudPlugin: DatasetBuilding {
    public var datasetBuilders: [DatasetBuilder] { [PointBackgroundBuilder.command] }
}

extension PointCloudPlugin: TrainingAugmenting {
    public var augmentationOptions: [PluginOption] {
        [PluginOption("augment-rotate", default: "none", help: "Random rotation of every training cloud about the up axis: none, y (Sweet Home 3D models) or z (ModelNet)."),
         PluginOption("augment-jitter", default: "0", help: "Gaussian jitter σ added to every training point, clipped at 5σ (PointNet: 0.01); 0 for none.")]
    }

    public func augmentation(_ options: [String: String]) throws -> BatchAugmentation? {
        let rotate = options["augment-rotate"] ?? "none"
        guard ["none", "y", "z"].contains(rotate) else {
            throw PluginError.badOption("augment-rotate", plugin: name, value: rotate, expected: "none, y or z (the up axis)")
        }
        guard let sigma = Float(options["augment-jitter"] ?? "0"), sigma >= 0, sigma <= 1 else {
            throw PluginError.badOption("augment-jitter", plugin: name, value: options["augment-jitter"] ?? "", expected: "a number in [0, 1]")
        }
        return PointAugmentation.make(rotateAbout: rotate == "none" ? nil : rotate, jitter: sigma)
    }
}

/// Rotation about the up axis and jitter of training batches (B, N, 3).
public enum PointAugmentation {
    public static func make(rotateAbout axis: String?, jitter sigma: Float) -> BatchAugmentation? {
        guard axis != nil || sigma > 0 else { return nil }
        var parts: [String] = []
        if let axis { parts.append("rotate-up(\(axis), uniform angle)") }
        if sigma > 0 { parts.append("jitter(σ=\(sigma), clip \(5 * sigma))") }
        return BatchAugmentation(description: parts.joined(separator: " ")) { x, lengths, g in
            precondition(x.shape.count == 3 && x.shape[2] == 3, "point augmentation expects (B, N, 3), got \(x.shape)")
            let (b, n) = (x.shape[0], x.shape[1])
            for s in 0..<b {
                let real = lengths?[s] ?? n
                let p = x.data + s * n * 3
                if let axis {
                    let angle = g.uniform() * 2 * .pi
                    let (c, si) = (cos(angle), sin(angle))
                    // Rotate the two axes other than the up axis: (x, z) about y, (x, y) about z.
                    let (i, j) = axis == "y" ? (0, 2) : (0, 1)
                    for k in 0..<real {
                        let u = p[3 * k + i], v = p[3 * k + j]
                        p[3 * k + i] = c * u - si * v
                        p[3 * k + j] = si * u + c * v
                    }
                }
                if sigma > 0 {
                    for k in 0..<(3 * real) { p[k] += min(max(sigma * g.gaussian(), -5 * sigma), 5 * sigma) }
                }
            }
        }
    }
}

extension PointCloudPlugin: DefaultRuns {
    /// The quickstart: real Sweet Home 3D furniture models (Debian's sweethome3d-furniture) sampled into
    /// point clouds with SYNTHETIC background injected from other objects; pointnet-s networks, tap relu_fc1.
    public var defaultRuns: [DefaultRun] {
        let q = QuickstartPoints.self
        return [DefaultRun(
            name: "points",
            summary: "Real Sweet Home 3D furniture models as point clouds with SYNTHETIC background injected from other objects (the paper's ModelNet40 protocol), pointnet-s networks, relu_fc1, \(q.analysedInputs) inputs.",
            family: "pointnet-s",
            options: [:],
            prepare: { folder, log in
                let archive = folder.appendingPathComponent(q.archiveName)
                if FileManager.default.fileExists(atPath: archive.path) { return archive.path }
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                log("building the default point set (Sweet Home 3D models with SYNTHETIC background injected from other objects) at \(archive.path) …")
                let s = try PointBackgroundBuilder.build(q.builderOptions, to: archive.path, log: log)
                for line in s.skipped.prefix(10) { log("  warning: skipped \(line)") }
                log("  \(s.manifest.samples.count) samples written, classes \(s.manifest.classes.joined(separator: ", "))")
                return archive.path
            },
            configure: { c in q.configure(&c) })]
    }
}

/// The sizes of `kd-tool quickstart points`, chosen to finish in about 20 minutes on two shared cores.
public enum QuickstartPoints {
    public static let analysedInputs = 24
    public static var builderOptions: PointBackgroundOptions {
        var o = PointBackgroundOptions()
        // The classes with the most models (Docs/PointClouds.md, "Classes").
        o.classes = ["chair", "lamp", "person", "table"]
        o.points = 512
        o.background = 250
        o.backgroundClouds = 5
        o.testFraction = 0.3
        o.studentFraction = 0.1
        o.seed = 2020
        o.copies = 8
        return o
    }
    public static var archiveName: String {
        let o = builderOptions
        return "point-background-sh3d-p\(o.points)-b\(o.background)-c\(o.copies)-s\(o.seed).tgz"
    }

    public static func configure(_ c: inout StudyConfig) {
        c.tap = "relu_fc1"
        c.teacherWidth = 1
        c.studentWidth = 0.5
        c.teacherEpochs = 30
        c.studentEpochs = 20
        c.studentStage2Epochs = 10
        c.baselineEpochs = 20
        // Method.md §7: the teacher uses all training data; student and baseline a random 10 %.
        c.studentDataFraction = 0.1
        c.batchSize = 16
        c.learningRate = .constant(0.02)
        c.analysedInputs = analysedInputs
        c.entropy.parameterization = .log
        c.entropy.noiseSamples = 8
        c.entropy.steps = 60
        c.entropy.pinning = .init(target: -2.8, checkStep: 39, alphaFactor: 1.5)
        c.metrics.threshold = 0.5
    }
}
