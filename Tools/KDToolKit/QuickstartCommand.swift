import ArgumentParser
import Foundation
import KDCore

struct QuickstartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run a complete analysis on a plugin's built-in default dataset, end to end, in minutes on two cores.",
        discussion: """
        Each plugin may offer default runs (see `kd-tool plugins`): the dataset it prepares (once, in \
        --data-folder), the model family and every study setting. A run trains a teacher, a student by \
        feature distillation and a baseline from scratch with dense checkpoints, for 3 independent seeds \
        (--seeds), analyses fixed test inputs at every checkpoint, and prints the paper's table for S and B as \
        mean ± sd over the seeds with the paired S − B statistics and the hypotheses the numbers support. It is \
        an experiment like `kd-tool experiment run`'s: the output folder gets resolved.yaml and seed-N/ folders. With no NAME, the first run of the first plugin is used. Every study \
        option can still be changed; see `kd-tool analyze --help` for what each means.
        """)

    @Argument(help: "The default run to use (a run name, or a plugin name for its first run); see `kd-tool plugins`.")
    var name: String?
    @Option(help: "Output folder (re-running resumes what is finished; default kd-runs/quickstart[-NAME]).") var output: String?
    @Option(help: "Folder where default datasets are built or found.") var dataFolder: String = "kd-runs/data"
    @OptionGroup var study: StudyOptions

    /// Independent seed sets of a quickstart unless --seeds says otherwise (Docs/Quickstart.md).
    static let defaultSeeds = 3

    /// The run NAME selects, with its plugin.
    static func select(_ name: String?, in registry: PluginRegistry) throws -> (ModalityPlugin, DefaultRun) {
        var all: [(ModalityPlugin, DefaultRun)] = []
        for p in registry.plugins { for r in (p as? DefaultRuns)?.defaultRuns ?? [] { all.append((p, r)) } }
        guard let first = all.first else { throw ValidationError("no registered plugin offers a default run") }
        guard let name else { return first }
        if let hit = all.first(where: { $0.1.name == name }) ?? all.first(where: { $0.0.name == name }) { return hit }
        throw ValidationError("no default run named '\(name)'; the runs are: \(all.map { "\($0.1.name) (\($0.0.name))" }.joined(separator: ", "))")
    }

    func run() throws {
        let registry = try Registration.registry()
        let (plugin, defaultRun) = try Self.select(name, in: registry)
        let path = try defaultRun.prepare(URL(fileURLWithPath: dataFolder)) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        let family = try plugin.family(study.family ?? defaultRun.family)
        var config = StudyOptions.defaultConfig(plugin: plugin, family: family)
        defaultRun.configure(&config)
        study.apply(to: &config, plugin: plugin, family: family)
        let folder = output ?? (name == nil ? "kd-runs/quickstart" : "kd-runs/quickstart-\(defaultRun.name)")
        let experiment = try StudyRunner.experiment(plugin: plugin, data: path, options: defaultRun.options, config: config,
                                                    seeds: study.seedList(base: config.seed, default: Self.defaultSeeds), output: folder, command: "kd-tool quickstart \(defaultRun.name)")
        try StudyRunner.run(experiment, registry: registry, compareEstimators: study.compareEstimators,
                            comparePrecision: study.comparePrecision)
    }
}
