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
        static let configuration = CommandConfiguration(
            abstract: "Run every seed and sweep of an experiment file (re-running resumes).",
            discussion: """
            Sharded (Docs/Methods.md "Sharded runs"): --shard I/N --stage S runs the I-th of N disjoint slices \
            of one stage's work items, so N processes (or cluster jobs) can share the experiment in one --output \
            folder: first every shard of train-teachers (teachers and baselines), then of train-students (each \
            method's student), then of maps (one item per study, network, checkpoint and input; each shard \
            writes results.shard-I-of-N.sqlite in the study folder). Then `kd-tool merge DIR` joins the shard \
            stores, and this command without --shard finds everything trained and stored and writes the tables.
            """)
        @Argument(help: "The experiment file (.yaml).") var file: String
        @Option(help: "Output folder (default: the file's 'output', else kd-runs/experiments/NAME).") var output: String?
        @Option(help: ArgumentHelp("Run only slice I of N (1 ≤ I ≤ N) of the stage's work items: those whose position p in the fixed enumeration has p mod N = I − 1. Needs --stage.", valueName: "I/N"))
        var shard: String?
        @Option(help: ArgumentHelp("The stage a shard runs: \(ShardStage.allCases.map(\.rawValue).joined(separator: ", ")). Without --shard, the whole stage (shard 1/1).", valueName: "stage"))
        var stage: ShardStage?
        @Option(help: ArgumentHelp("Read this dataset instead of the file's 'data' (relative to the current folder): the same experiment on another dataset its plugin reads.", valueName: "path"))
        var data: String?
        @Option(name: .customLong("option"), help: ArgumentHelp("Set or replace one of the file's plugin options (repeatable); `kd-tool plugins` lists each plugin's options.", valueName: "key=value"))
        var options: [String] = []

        func validate() throws {
            if shard != nil && stage == nil {
                throw ValidationError("--shard needs --stage (\(ShardStage.allCases.map(\.rawValue).joined(separator: ", "))): a shard runs one stage; run the stages in that order")
            }
            if let shard { _ = try Self.parseShard(shard) }
        }

        /// "I/N" → the shard; a typed error naming what was expected otherwise.
        static func parseShard(_ text: String) throws -> StudyShard {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 1, i <= n else {
                throw ValidationError("--shard: expected I/N with whole numbers 1 ≤ I ≤ N (e.g. 2/8), got '\(text)'")
            }
            return try StudyShard(index: i, count: n)
        }

        func run() throws {
            let registry = try Registration.registry()
            var e = try Experiment.read(file: file, registry: registry)
            try e.override(data: data, options: options, plugin: try registry.plugin(named: e.plugin))
            if let output { e.output = output }
            let start = Date()
            if let stage {
                let s = try shard.map(Self.parseShard) ?? StudyShard(index: 1, count: 1)
                let summary = try ExperimentRunner(experiment: e, registry: registry).runShard(s, stage: stage)
                print(summary, terminator: "")
                print(String(format: "(%.1f min)", Date().timeIntervalSince(start) / 60))
                return
            }
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
        @Option(help: ArgumentHelp("Check with this dataset instead of the file's 'data' (as experiment run --data).", valueName: "path"))
        var data: String?
        @Option(name: .customLong("option"), help: ArgumentHelp("Set or replace one of the file's plugin options (repeatable).", valueName: "key=value"))
        var options: [String] = []

        func run() throws {
            let registry = try Registration.registry()
            var e = try Experiment.read(file: file, registry: registry)
            try e.override(data: data, options: options, plugin: try registry.plugin(named: e.plugin))
            if !schemaOnly { _ = try e.checkAgainstData(plugin: try registry.plugin(named: e.plugin)) }
            print(try e.resolvedYAML(), terminator: "")
        }
    }
}
