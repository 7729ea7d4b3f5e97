import ArgumentParser
import KDCore

/// The root command only configures; each subcommand lives in its own file.
@main
struct KDTool: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kd-tool",
        abstract: "Quantify the knowledge in a DNN and test the three hypotheses about knowledge distillation.",
        discussion: """
        kd-tool trains teacher, distilled-student and baseline networks, learns how much information each \
        input unit loses up to a chosen layer, counts knowledge points on foreground and background, and \
        reports N_fg, N_bg, λ, D_mean, D_var and ρ (Zhang, Cheng, Chen, Rao). See Docs/ for every analysis.
        """,
        subcommands: [QuickstartCommand.self, AnalyzeCommand.self, DatasetCommand.self, PluginsCommand.self, BenchCommand.self]
    )
}
