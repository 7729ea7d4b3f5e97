import ArgumentParser
import Foundation
import KDCore
import KDDatasets

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Run the whole study on a dataset: train teacher, student and baseline, analyse every checkpoint, and report the paper's table and the hypotheses.",
        discussion: """
        The dataset is recognised by its content and handed to the plugin that reads it (`kd-tool plugins` \
        lists the plugins, their formats, families, taps and options). Plugin settings go in --option \
        NAME=VALUE. The teacher can start from weights trained elsewhere (--teacher-weights, through the \
        family's name mapping; a PyTorch state dict of the same architecture exported to safetensors loads as \
        it is). The flags become an experiment (the same thing `kd-tool experiment run FILE.yaml` runs): the \
        output folder gets resolved.yaml (every setting; `kd-tool experiment run` on it reproduces the run), \
        experiment.txt and .csv, and one seed-N/ study folder per seed (--seeds). Re-running the same command \
        in the same --output folder resumes: finished training epochs and entropy maps are not computed again.
        """)

    @Option(help: "The dataset archive, file or folder.") var data: String
    @Option(help: "Output folder (created; an earlier run of the same settings there is resumed).") var output: String = "kd-runs/analysis"
    @Option(help: "Use this plugin instead of recognising the dataset.") var plugin: String?
    @Option(name: .customLong("option"), help: "A plugin setting NAME=VALUE (repeatable).") var pluginOptions: [String] = []
    @Option(help: "A safetensors file of weights for the teacher (see --teacher-source).") var teacherWeights: String?
    @Option(help: "With --teacher-weights: fine-tune (train on the task from those weights) or trained (use them as they are).")
    var teacherSource: TeacherSourceChoice = .fineTune
    @OptionGroup var study: StudyOptions

    enum TeacherSourceChoice: String, ExpressibleByArgument, CaseIterable {
        case fineTune = "fine-tune", trained
    }

    func validate() throws {
        for o in pluginOptions where !o.contains("=") {
            throw ValidationError("--option takes NAME=VALUE, got '\(o)' (see `kd-tool plugins` for each plugin's options)")
        }
        guard FileManager.default.fileExists(atPath: data) else {
            throw ValidationError("--data \(data): no such file or folder")
        }
        if let w = teacherWeights, !FileManager.default.fileExists(atPath: w) {
            throw ValidationError("--teacher-weights \(w): no such file")
        }
    }

    func run() throws {
        let registry = try Registration.registry()
        let chosen: ModalityPlugin
        if let name = plugin { chosen = try registry.plugin(named: name) }
        else {
            let found: (plugin: ModalityPlugin, format: String)
            do { found = try registry.recognise(data) } catch {
                // Say what is wrong with a damaged download rather than only that nobody recognises it.
                if let damage = ArchiveReader.diagnose(path: data) { throw Unrecognised(plugins: "\(error)", archive: "\(damage)") }
                throw error
            }
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
        var config = StudyOptions.defaultConfig(plugin: chosen, family: family)
        if let w = teacherWeights {
            config.teacherSource = teacherSource == .trained ? .trained(path: w) : .fineTuned(path: w)
        }
        study.apply(to: &config, plugin: chosen, family: family)
        if !source.problems.isEmpty {
            FileHandle.standardError.write(Data("\(source.problems.count) records skipped while reading (bad members are reported, the rest go on; all are listed in study.json):\n".utf8))
            for s in source.problems.prefix(20) { FileHandle.standardError.write(Data("  \(s)\n".utf8)) }
        }
        let experiment = try StudyRunner.experiment(plugin: chosen, data: data, options: options, config: config,
                                                    seeds: study.seedList(base: config.seed), output: output, command: "kd-tool analyze")
        try StudyRunner.run(experiment, registry: registry, compareEstimators: study.compareEstimators,
                            comparePrecision: study.comparePrecision)
    }
}

/// Nothing recognised the data, and read as an archive it is damaged or of another kind: both are said.
struct Unrecognised: Error, CustomStringConvertible {
    let plugins: String
    let archive: String
    var description: String { plugins + "\nRead as an archive: " + archive }
}
