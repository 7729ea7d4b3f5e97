import ArgumentParser
import Foundation
import KDCore

/// The root command only configures; each subcommand lives in its own file.
public struct KDTool: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kd-tool",
        abstract: "Quantify the knowledge in a DNN and test the three hypotheses about knowledge distillation.",
        discussion: """
        kd-tool trains teacher, distilled-student and baseline networks, learns how much information each \
        input unit loses up to a chosen layer, counts knowledge points on foreground and background, and \
        reports N_fg, N_bg, λ, D_mean, D_var and ρ (Zhang, Cheng, Chen, Rao). The modalities it reads come \
        from its plugins: `kd-tool plugins` lists them. See Docs/ for every analysis.
        """,
        subcommands: [QuickstartCommand.self, AnalyzeCommand.self, ExperimentCommand.self, DatasetCommand.self,
                      PluginsCommand.self, CheckCommand.self, ReportCommand.self, StatusCommand.self, CoherencyCommand.self,
                      SlurmCommand.self,
                      BenchCommand.self, MergeCommand.self]
    )

    public init() {}

    /// Runs kd-tool with `plugins` (the first one's first default run is `kd-tool quickstart`'s) on
    /// `arguments` (the process's when nil). Exits the process.
    public static func main(plugins: [ModalityPlugin], arguments: [String]? = nil) -> Never {
        Registration.install(plugins)
        do { _ = try Registration.registry() } catch {
            FileHandle.standardError.write(Data("kd-tool: \(error)\n".utf8))
            Foundation.exit(70)
        }
        main(arguments)
        Foundation.exit(0)
    }
}
