import ArgumentParser
import Foundation
import KDCore

/// `kd-tool experiment run FILE.yaml` and `kd-tool experiment check FILE.yaml` (Docs/Methods.md).
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run or check an experiment file: one YAML file = one reproducible experiment.",
        discussion: """
        An experiment file names the plugin, the data and its options, the family and widths of the teacher, \
        student and baseline, the teacher's source, the distillation methods to compare with their \
        hyper-parameters, the taps, the seeds, the checkpoint schedule, the entropy and metric settings and \
        the sweeps (Docs/Methods.md; examples in Docs/experiments/). Unknown keys and wrong types are errors \
        with line and column; missing data, unknown families, taps and layers are refused before any training. \
        The resolved experiment (every default filled in) is written as resolved.yaml next to the results.
        """,
        subcommands: [Run.self, Check.self])

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run every seed and sweep of an experiment file (re-running resumes).")
        @Argument(help: "The experiment file (.yaml).") var file: String
        @Option(help: "Output folder (default: the file's 'output', else kd-runs/experiments/NAME).") var output: String?

        func run() throws {
            let registry = try Registration.registry()
            var e = try Experiment.read(file: file, registry: registry)
            if let output { e.output = output }
            let start = Date()
            let text = try ExperimentRunner(experiment: e, registry: registry).run()
            print(text, terminator: "")
            print(String(format: "Files: %@/{resolved.yaml, experiment.txt, experiment.csv, seed-N/} (%.1f min)",
                         e.output, Date().timeIntervalSince(start) / 60))
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read an experiment file and check it against its data and networks, training nothing; print the resolved experiment.")
        @Argument(help: "The experiment file (.yaml).") var file: String
        @Flag(help: "Check keys, types and values only, without opening the data or building the networks.") var schemaOnly = false

        func run() throws {
            let registry = try Registration.registry()
            let e = try Experiment.read(file: file, registry: registry)
            if !schemaOnly { _ = try e.checkAgainstData(plugin: try registry.plugin(named: e.plugin)) }
            print(try e.resolvedYAML(), terminator: "")
        }
    }
}
