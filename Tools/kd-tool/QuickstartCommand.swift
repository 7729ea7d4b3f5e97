import ArgumentParser
import Foundation
import ImageGrid
import KDCore
import KDDatasets

struct QuickstartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run the first complete analysis on the built-in default dataset, end to end, in about ten minutes on two cores.",
        discussion: """
        Builds (once) the default dataset — a COMPOSITE of real Fashion-MNIST items pasted on crops of real \
        photographs (Debian's dataset-fashion-mnist and mate-backgrounds) in CUB-200-2011's layout — then trains \
        a teacher (all training images, longer), a student by feature distillation at fc1 and a baseline from \
        scratch with dense checkpoints, analyses 32 fixed test inputs (class by class) at every checkpoint, and prints the paper's \
        Table-5 rows for S and B with the accuracies of T, S and B and the hypotheses the numbers support. Every \
        study option can be changed; see `kd-tool analyze --help` for what each means.
        """)

    @Option(help: "Output folder (re-running resumes what is finished).") var output: String = "kd-runs/quickstart"
    @Option(help: "Folder where the default dataset archive is built or found (its file name records its options).") var dataFolder: String = "kd-runs/data"
    @Option(help: "Images per class in the default dataset (a quarter of them are test images).") var perClass: Int = 400
    @OptionGroup var study: StudyOptions

    func validate() throws {
        if perClass < 10 { throw ValidationError("--per-class must be at least 10") }
    }

    /// The quickstart's settings: chosen so the whole run fits in about 10 minutes on 2 cores while keeping
    /// the paper's protocol (SGD 0.9/1e-4, dense checkpoints, feature distillation at fc1, pinning at −2.8).
    static func defaultConfig(family: ModelFamily) -> StudyConfig {
        var c = StudyConfig(family: family.name, tap: "fc1")
        c.teacherEpochs = 16
        c.studentEpochs = 10
        c.studentStage2Epochs = 3
        c.baselineEpochs = 10
        c.studentDataFraction = 0.5
        c.batchSize = 32
        c.learningRate = .constant(0.02)
        c.analysedInputs = 32
        c.entropy.parameterization = .log
        c.entropy.noiseSamples = 16
        c.entropy.steps = 100
        c.entropy.pinning = .init(target: -2.8, checkStep: 59, alphaFactor: 1.5)
        c.metrics.threshold = 0.2
        return c
    }

    func run() throws {
        let archive = URL(fileURLWithPath: dataFolder).appendingPathComponent("composite-fashion-mate-p\(perClass)-s2020.tgz")
        if !FileManager.default.fileExists(atPath: archive.path) {
            try FileManager.default.createDirectory(at: archive.deletingLastPathComponent(), withIntermediateDirectories: true)
            var options = CompositeOptions()
            options.perClass = perClass
            options.testFraction = 0.25
            options.seed = 2020
            FileHandle.standardError.write(Data("building the default dataset (a COMPOSITE: Fashion-MNIST items on real photographs) at \(archive.path) …\n".utf8))
            var last = ""
            let summary = try CompositeBuilder.build(options, to: archive.path) { p in
                let line = p.description
                if line != last, p.total == 0 || p.done == p.total || p.done % 200 == 0 {
                    FileHandle.standardError.write(Data("  \(line)\n".utf8)); last = line
                }
            }
            FileHandle.standardError.write(Data("  \(summary.records.count) images written\n".utf8))
        }
        let plugin = ImageGridPlugin()
        let data = try plugin.open(archive.path, options: ["image-size": "32", "grid": "16", "crop-scale": "1.5"])
        let family = try plugin.family(study.family ?? "vgg11-s")
        var config = Self.defaultConfig(family: family)
        study.apply(to: &config, plugin: plugin, family: family)
        _ = try StudyRunner.run(config: config, family: family, data: data, folder: URL(fileURLWithPath: output))
    }
}
