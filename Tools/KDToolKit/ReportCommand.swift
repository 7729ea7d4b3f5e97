import ArgumentParser
import Foundation
import KDCore

/// `kd-tool report RUN_FOLDER`: one self-contained HTML page of a finished run (Docs/Report.md).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page of a finished run: its tables, the paper's figures from the run's own data, and its pictures.",
        discussion: """
        Reads the run folder (study.json, table5.csv, per_input.csv, curves.csv, results.sqlite, pictures/, and \
        coherency.json when `kd-tool coherency` has written one) and writes report.html there, or to --output. \
        The page needs nothing else: charts are inline SVG, pictures are embedded, there are no external \
        scripts, styles or fonts. See Docs/Report.md for what each figure shows.
        """)

    @Argument(help: "The run folder: an analyze, quickstart or experiment --output (one page per seed-N/ study), or one seed-N/ study folder.") var folder: String
    @Option(help: "Only the study of this seed (the output folder's seed-N/).") var seed: UInt64?
    @Option(help: "The HTML file to write (default: report.html in each study folder; only with one study).") var output: String?

    func run() throws {
        let dirs = try RunFolders.select(URL(fileURLWithPath: folder), seed: seed)
        if output != nil && dirs.count > 1 {
            throw RunFolderError(message: "\(folder) holds \(dirs.count) studies (\(dirs.map(\.lastPathComponent).joined(separator: ", "))); choose one with --seed to use --output")
        }
        for dir in dirs {
            let run = try ReportRun.load(dir)
            let html = ReportHTML.render(run)
            let url = output.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("report.html")
            try Data(html.utf8).write(to: url, options: .atomic)
            for n in run.notes { FileHandle.standardError.write(Data("note: \(n)\n".utf8)) }
            print("wrote \(url.path) (\(html.utf8.count / 1024) KiB, \(run.pictures.count) pictures\(run.coherency == nil ? "" : ", coherency"))")
        }
    }
}
