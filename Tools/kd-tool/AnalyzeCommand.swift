import ArgumentParser
import Foundation
import KDCore

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Run the whole study on a dataset archive: train teacher, student and baseline, analyse every checkpoint, and report Table 5 and the hypotheses.",
        discussion: """
        The archive is recognised by its content (see `kd-tool plugins`). Plugin settings go in --option \
        NAME=VALUE (for images: image-size, grid, fg-rule, crop-scale, masks, classes, max-per-split, …). \
        Re-running the same command in the same --output folder resumes: finished training epochs and \
        entropy maps are not computed again.
        """)

    @Option(help: "The dataset archive (or folder, for Fashion-MNIST's IDX files).") var data: String
    @Option(help: "Output folder (created; an earlier run of the same settings there is resumed).") var output: String = "kd-runs/analysis"
    @Option(help: "Use this plugin instead of recognising the archive.") var plugin: String?
    @Option(name: .customLong("option"), help: "A plugin setting NAME=VALUE (repeatable).") var pluginOptions: [String] = []
    @OptionGroup var study: StudyOptions

    func validate() throws {
        for o in pluginOptions where !o.contains("=") {
            throw ValidationError("--option takes NAME=VALUE, got '\(o)' (see `kd-tool plugins` for each plugin's options)")
        }
        guard FileManager.default.fileExists(atPath: data) else {
            throw ValidationError("--data \(data): no such file or folder")
        }
    }

    func run() throws {
        let registry = Registration.registry()
        let chosen: ModalityPlugin
        if let name = plugin { chosen = try registry.plugin(named: name) }
        else {
            let found = try registry.recognise(data)
            chosen = found.plugin
            FileHandle.standardError.write(Data("\(data): recognised as \(found.format) by plugin \(chosen.name)\n".utf8))
        }
        var options: [String: String] = [:]
        for o in pluginOptions {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            options[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let source = try chosen.open(data, options: options)
        let family = try chosen.family(study.family ?? chosen.defaults.family)
        var config = StudyConfig(family: family.name, tap: family.taps[0])
        study.apply(to: &config, plugin: chosen, family: family)
        _ = try StudyRunner.run(config: config, family: family, data: source, folder: URL(fileURLWithPath: output))
    }
}
