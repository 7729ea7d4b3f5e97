import Foundation
import KDCore
import KDDatasets

/// `kd-tool dataset composite`: objects pasted on crops of real photographs, written as a CUB-200-2011-style
/// archive with exact masks and boxes (the builder lives in KDDatasets; this is its command-line face).
enum CompositeBuilderCommand {
    static var builder: DatasetBuilder {
        DatasetBuilder(
            name: "composite",
            summary: "Paste objects on crops of real photographs and write a CUB-200-2011-style archive with exact masks and boxes.",
            discussion: """
            Each image is a random square crop of a background photograph with one object pasted at a random \
            scale and position; its mask is exactly the set of pixels the object replaced and its box the \
            mask's tight box. The archive has CUB-200-2011's layout (CUB_200_2011/images.txt, classes.txt, \
            image_class_labels.txt, train_test_split.txt, bounding_boxes.txt, images/, and segmentations/), \
            so the image plugin reads it like the real dataset, but a manifest (kd-composite.json) and a \
            README.txt say it is a COMPOSITE, with the sources' SHA-256 sums. The same options give a \
            byte-identical archive.

            Objects: fashion-mnist (Debian dataset-fashion-mnist, tinted with random colours), animal-mnist \
            (the animal_mnist-0.4 wheel, silhouettes filled with photo textures; pass objects-path), or \
            clipart (a folder of class folders of RGBA PNGs, such as Debian openclipart-png's \
            /usr/share/openclipart/png/animals). Backgrounds: Debian mate-backgrounds' nature photos by \
            default, without the photos that show animals.
            """,
            options: [
                PluginOption("objects", default: "fashion-mnist", help: "Object source: fashion-mnist, animal-mnist or clipart."),
                PluginOption("objects-path", default: "", help: "Fashion-MNIST folder or archive (default \(CompositeOptions.defaultFashionMNISTPath)), the animal_mnist-0.4 wheel, or the clip-art folder of class folders (default \(CompositeOptions.defaultClipartPath))."),
                PluginOption("backgrounds", default: "", help: "Comma-separated background photos or folders of photos (JPEG/PNG, not recursive). Default: \(CompositeOptions.defaultBackgrounds.joined(separator: ", "))."),
                PluginOption("exclude", default: "", help: "Comma-separated photo file names to leave out of the backgrounds (photos showing an animal), in addition to \(CompositeOptions.defaultExcludedBackgrounds.joined(separator: " and ")) of mate-backgrounds."),
                PluginOption("per-class", default: "60", help: "Images per class (train and test together)."),
                PluginOption("test-fraction", default: "0.5", help: "Share of each class's images in the test split (0 to 1)."),
                PluginOption("size", default: "96", help: "Side of the square images in pixels (16 to 1024)."),
                PluginOption("seed", default: "0", help: "Seed of every random choice; the same seed and sources give the same archive."),
                PluginOption("classes", default: "", help: "Comma-separated class names to keep (case and punctuation ignored, e.g. trouser,bag,sneaker); default all."),
                PluginOption("min-scale", default: "0.40", help: "Smallest object size, as a share of the image side."),
                PluginOption("max-scale", default: "0.75", help: "Largest object size, as a share of the image side."),
            ],
            build: { given, output, log in
                let options = try compositeOptions(given)
                var lastStage: CompositeProgress.Stage? = nil
                var lastReport = Date.distantPast
                let summary = try CompositeBuilder.build(options, to: output) { progress in
                    let now = Date()
                    guard progress.stage != lastStage || progress.done == progress.total || now.timeIntervalSince(lastReport) > 1 else { return }
                    lastStage = progress.stage
                    lastReport = now
                    log("  \(progress)")
                }
                for line in summary.skippedBackgrounds { log("warning: background skipped: \(line)") }
                if !summary.skippedObjects.isEmpty {
                    log("note: \(summary.skippedObjects.count) objects passed over (e.g. \(summary.skippedObjects[0]))")
                }
                var lines = [
                    "Wrote \(summary.path): a COMPOSITE dataset (\(options.objects.rawValue) objects on crops of real photographs), not CUB-200-2011.",
                    "\(summary.classes.count) classes, \(summary.records.count) images of \(options.size)×\(options.size): \(summary.trainCount) train, \(summary.testCount) test; seed \(options.seed).",
                ]
                for entry in summary.classes { lines.append("  \(entry.directory): \(entry.train) train, \(entry.test) test") }
                lines.append("Backgrounds: \(summary.backgrounds.count) photos. Masks in segmentations/, boxes in CUB_200_2011/bounding_boxes.txt.")
                return lines
            })
    }

    /// Parses and checks the builder's options; every error says what to give instead.
    static func compositeOptions(_ o: [String: String]) throws -> CompositeOptions {
        func bad(_ name: String, _ expected: String) -> PluginError {
            .badOption(name, plugin: "dataset composite", value: o[name] ?? "", expected: expected)
        }
        func list(_ name: String) -> [String] {
            (o[name] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard let objects = CompositeOptions.ObjectKind(rawValue: o["objects"] ?? "") else {
            throw bad("objects", "one of \(CompositeOptions.ObjectKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let perClass = Int(o["per-class"] ?? ""), perClass >= 1 else {
            throw bad("per-class", "an integer ≥ 1 (CUB-200-2011 has about 60 images per class)")
        }
        guard let testFraction = Double(o["test-fraction"] ?? ""), testFraction >= 0, testFraction <= 1 else {
            throw bad("test-fraction", "a number between 0 and 1, e.g. 0.5 for half the images in the test split")
        }
        guard let size = Int(o["size"] ?? ""), size >= 16, size <= 1024 else { throw bad("size", "an integer between 16 and 1024 pixels") }
        guard let seed = UInt64(o["seed"] ?? "") else { throw bad("seed", "a non-negative integer") }
        guard let minScale = Double(o["min-scale"] ?? ""), let maxScale = Double(o["max-scale"] ?? ""),
              minScale > 0, minScale <= maxScale, maxScale <= 1 else {
            throw bad("min-scale", "0 < min-scale ≤ max-scale ≤ 1 (defaults 0.40 and 0.75)")
        }
        let objectsPath = (o["objects-path"] ?? "").isEmpty ? nil : o["objects-path"]
        if objects == .animalMNIST && objectsPath == nil {
            throw bad("objects-path", "the animal_mnist-0.4 wheel for objects=animal-mnist (pip download --no-deps animal-mnist==0.4)")
        }
        let classes = list("classes")
        if !(o["classes"] ?? "").isEmpty && classes.isEmpty { throw bad("classes", "comma-separated class names") }
        let backgrounds = list("backgrounds")
        return CompositeOptions(objects: objects, objectsPath: objectsPath,
                                backgrounds: backgrounds.isEmpty ? CompositeOptions.defaultBackgrounds : backgrounds,
                                excludedBackgrounds: CompositeOptions.defaultExcludedBackgrounds + list("exclude"),
                                classes: classes.isEmpty ? nil : classes,
                                perClass: perClass, testFraction: testFraction, size: size, seed: seed,
                                scaleMin: minScale, scaleMax: maxScale)
    }
}
