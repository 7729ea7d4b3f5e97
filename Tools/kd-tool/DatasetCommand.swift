import ArgumentParser
import Foundation
import KDDatasets

/// `kd-tool dataset …`: builders of derived datasets.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Build derived datasets that kd-tool's plugins read like the originals.",
        subcommands: [Composite.self])

    struct Composite: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "composite",
            abstract: "Paste objects on crops of real photographs and write a CUB-200-2011-style archive with exact masks and boxes.",
            discussion: """
            Each image is a random square crop of a background photograph with one object pasted at a random \
            scale and position; its mask is exactly the set of pixels the object replaced and its box the \
            mask's tight box. The archive has CUB-200-2011's layout (CUB_200_2011/images.txt, classes.txt, \
            image_class_labels.txt, train_test_split.txt, bounding_boxes.txt, images/, and segmentations/), \
            so the image plugin reads it like the real dataset, but a manifest (kd-composite.json) and a \
            README.txt say it is a COMPOSITE, with the sources' SHA-256 sums. The same options give a \
            byte-identical archive.

            Objects: fashion-mnist (Debian dataset-fashion-mnist, tinted with random colours), animal-mnist \
            (the animal_mnist-0.4 wheel, silhouettes filled with photo textures; pass --objects-path), or \
            clipart (a folder of class folders of RGBA PNGs, such as Debian openclipart-png's \
            /usr/share/openclipart/png/animals). Backgrounds: Debian mate-backgrounds' nature photos by \
            default, without the photos that show animals.
            """)

        @Option(help: "The archive to write (.tgz); it appears only when complete.")
        var output: String

        @Option(help: "Object source: fashion-mnist, animal-mnist or clipart.")
        var objects: CompositeOptions.ObjectKind = .fashionMNIST

        @Option(name: .customLong("objects-path"),
                help: "Fashion-MNIST folder or archive (default \(CompositeOptions.defaultFashionMNISTPath)), the animal_mnist-0.4 wheel, or the clip-art folder of class folders (default \(CompositeOptions.defaultClipartPath)).")
        var objectsPath: String?

        @Option(help: "A background photo or a folder of photos (JPEG/PNG, not recursive); repeat for several. Default: \(CompositeOptions.defaultBackgrounds.joined(separator: ", ")).")
        var backgrounds: [String] = []

        @Option(help: "A photo file name to leave out of the backgrounds (a photo showing an animal), in addition to \(CompositeOptions.defaultExcludedBackgrounds.joined(separator: " and ")) of mate-backgrounds; repeat for several.")
        var exclude: [String] = []

        @Option(name: .customLong("per-class"), help: "Images per class (train and test together).")
        var perClass: Int = 60

        @Option(name: .customLong("test-fraction"), help: "Share of each class's images in the test split (0 to 1).")
        var testFraction: Double = 0.5

        @Option(help: "Side of the square images in pixels (16 to 1024).")
        var size: Int = 96

        @Option(help: "Seed of every random choice; the same seed and sources give the same archive.")
        var seed: UInt64 = 0

        @Option(help: "Comma-separated class names to keep (case and punctuation ignored, e.g. trouser,bag,sneaker); default all.")
        var classes: String?

        @Option(name: .customLong("min-scale"), help: "Smallest object size, as a share of the image side.")
        var minScale: Double = 0.40

        @Option(name: .customLong("max-scale"), help: "Largest object size, as a share of the image side.")
        var maxScale: Double = 0.75

        var options: CompositeOptions {
            CompositeOptions(objects: objects, objectsPath: objectsPath,
                             backgrounds: backgrounds.isEmpty ? CompositeOptions.defaultBackgrounds : backgrounds,
                             excludedBackgrounds: CompositeOptions.defaultExcludedBackgrounds + exclude,
                             classes: classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } },
                             perClass: perClass, testFraction: testFraction, size: size, seed: seed,
                             scaleMin: minScale, scaleMax: maxScale)
        }

        func validate() throws {
            if perClass < 1 { throw ValidationError("--per-class must be at least 1 (CUB-200-2011 has about 60 images per class).") }
            if !(testFraction >= 0 && testFraction <= 1) {
                throw ValidationError("--test-fraction must be between 0 and 1, e.g. 0.5 for half the images in the test split.")
            }
            if size < 16 || size > 1024 { throw ValidationError("--size must be between 16 and 1024 pixels (96 is the default).") }
            if !(minScale > 0 && minScale <= maxScale && maxScale <= 1) {
                throw ValidationError("--min-scale and --max-scale must satisfy 0 < min ≤ max ≤ 1 (defaults 0.40 and 0.75).")
            }
            if objects == .animalMNIST && objectsPath == nil {
                throw ValidationError("--objects animal-mnist needs --objects-path animal_mnist-0.4-py3-none-any.whl (pip download --no-deps animal-mnist==0.4).")
            }
            if let classes, options.classes?.isEmpty ?? true {
                throw ValidationError("--classes \"\(classes)\" names no class: give comma-separated names, or omit it to keep every class.")
            }
            let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) || !isDirectory.boolValue {
                throw ValidationError("The folder of --output (\(folder)) does not exist: create it first.")
            }
        }

        func run() throws {
            let options = self.options
            var lastStage: CompositeProgress.Stage? = nil
            var lastReport = Date.distantPast
            let summary = try CompositeBuilder.build(options, to: output) { progress in
                let now = Date()
                guard progress.stage != lastStage || progress.done == progress.total || now.timeIntervalSince(lastReport) > 1 else { return }
                lastStage = progress.stage
                lastReport = now
                FileHandle.standardError.write(Data("  \(progress)\n".utf8))
            }
            for line in summary.skippedBackgrounds { FileHandle.standardError.write(Data("warning: background skipped: \(line)\n".utf8)) }
            if !summary.skippedObjects.isEmpty {
                FileHandle.standardError.write(Data("note: \(summary.skippedObjects.count) objects passed over (e.g. \(summary.skippedObjects[0]))\n".utf8))
            }
            print("Wrote \(summary.path): a COMPOSITE dataset (\(options.objects.rawValue) objects on crops of real photographs), not CUB-200-2011.")
            print("\(summary.classes.count) classes, \(summary.records.count) images of \(options.size)×\(options.size): \(summary.trainCount) train, \(summary.testCount) test; seed \(options.seed).")
            for entry in summary.classes { print("  \(entry.directory): \(entry.train) train, \(entry.test) test") }
            print("Backgrounds: \(summary.backgrounds.count) photos. Masks in segmentations/, boxes in CUB_200_2011/bounding_boxes.txt.")
        }
    }
}

extension CompositeOptions.ObjectKind: ExpressibleByArgument {}
