import ArgumentParser
import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// `kd-tool report`, `coherency` and `status` on a run folder made by a tiny study of the synthetic plugin.
@Suite(.serialized) struct ReportTests {
    /// One tiny finished run, shared by the tests (made once).
    struct Fixture {
        let folder: URL
        let archive: String
        let outcome: Study.Outcome
    }

    static let fixture: Result<Fixture, Error> = Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-report-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let archive = dir.appendingPathComponent("squares.txt").path
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 24, size: 8)
        let plugin = SyntheticSquaresPlugin()
        let data = try plugin.open(archive, options: [:])
        var config = StudyConfig(family: "tiny-mlp", tap: "relu1")
        config.teacherEpochs = 3; config.studentEpochs = 2; config.studentStage2Epochs = 1; config.baselineEpochs = 2
        config.batchSize = 8
        config.analysedInputs = 4
        config.entropy = .fast
        config.entropy.steps = 200
        config.entropy.pinning = nil
        config.metrics.threshold = 0.01   // a few knowledge points even after a short training, so Fig. 5 has dots
        config.metrics.bootstrapReplicates = 50
        let folder = dir.appendingPathComponent("run")
        let study = try Study(config: config, family: try plugin.family("tiny-mlp"), data: data, folder: folder)
        let outcome = try study.run()
        try StudyReport.write(outcome, to: folder)
        // Pictures as the runner writes them, with an input id and a target that must be escaped.
        let pictures = folder.appendingPathComponent("pictures")
        try FileManager.default.createDirectory(at: pictures, withIntermediateDirectories: true)
        var index = "file,input_id,test_index,target,networks\n"
        for (i, id) in outcome.inputIDs.enumerated() {
            let name = String(format: "input-%03d.png", i)
            try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, UInt8(i)]).write(to: pictures.appendingPathComponent(name))
            let target = i == 0 ? "<script>alert(\"\"x\"\")</script> & co" : "left"
            index += "\(name),\"\(id)\",\(outcome.inputIndices[i]),\"\(target)\",teacher+student+baseline\n"
        }
        try index.write(to: pictures.appendingPathComponent("index.csv"), atomically: true, encoding: .utf8)
        return Fixture(folder: folder, archive: archive, outcome: outcome)
    }

    @Test func escapingCoversEveryHTMLSpecialCharacter() {
        #expect(HTML.text("<a href='x'>&\"</a>") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;")
        #expect(HTML.text("λ ρ N_fg") == "λ ρ N_fg")
        #expect(CSV.fields("a,\"b,\"\"c\"\"\",,d") == ["a", "b,\"c\"", "", "d"])
    }

    @Test func reportHasEverySectionAndNothingExternal() throws {
        let f = try Self.fixture.get()
        let run = try ReportRun.load(f.folder)
        let html = ReportHTML.render(run)
        for id in ReportHTML.sectionIDs { #expect(html.contains("<section id=\"\(id)\""), "section \(id) missing") }
        for id in ["table5-table", "accuracy-table", "hypotheses-table", "counts-table", "settings-table", "pictures-table",
                   "fig4-student", "fig4-baseline", "fig4-lambda", "fig2-scatter", "report-errors"] {
            #expect(html.contains("id=\"\(id)\""), "\(id) missing")
        }
        #expect(html.contains("data-kind=\"dot-matrix\""), "the detour figure must draw at least one input")
        // Self-contained: no external resources.
        for bad in ["src=\"http", "href=\"http", "<link", "@import", "url(", "<script src"] { #expect(!html.contains(bad), "\(bad)") }
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == f.outcome.inputIDs.count)
        // Text from files is escaped.
        #expect(!html.contains("<script>alert("))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"))
        // Provenance: the synthetic dataset is a composite, and the settings line is printed.
        #expect(html.contains("<b>COMPOSITE</b>"))
        #expect(html.contains(HTML.text(StudyReport.settingsLine(f.outcome))))
        #expect(html.contains("H1") && html.contains("H2") && html.contains("H3"))
    }

    @Test func figuresAgreeWithTheMetrics() throws {
        let f = try Self.fixture.get()
        let run = try ReportRun.load(f.folder)
        #expect(run.notes.isEmpty, "\(run.notes)")
        // Detours recomputed from the stored maps give study.json's |∪ S_j| and |S_M| for every used input.
        for r in [f.outcome.comparison.student, f.outcome.comparison.baseline] {
            let d = run.detours[r.network] ?? []
            #expect(d.count == r.counts.inputsUsed)
            for x in d {
                let recorded = r.inputs.first { $0.inputID == x.inputID }!
                #expect(x.unionCount == recorded.unionForegroundPoints && x.finalCount == recorded.finalForegroundPoints, "\(r.network) \(x.inputID)")
                #expect(x.sets.map(\.count) == recorded.foregroundCurve!, "\(r.network) \(x.inputID) N_fg curve")
            }
        }
        // The weight distance per checkpoint is measured and agrees with every D(m̂) (checked in load).
        #expect(run.distances["student"]?.count == f.outcome.analysedEpochs["student"]?.count, "\(run.distanceNote)")
        #expect(run.distances["baseline"]?[0] == 0)
        #expect(run.teacherLambda != nil && run.teacherInputs > 0)
        #expect(run.curves.count == f.outcome.comparison.student.checkpoints.count + f.outcome.comparison.baseline.checkpoints.count)
        #expect(run.perInput.count == 2 * f.outcome.inputIDs.count)
        #expect(run.pictures.count == f.outcome.inputIDs.count && run.pictures.allSatisfy { $0.png != nil })
    }

    @Test func coherencyKeepsEntropyAndLogitExplanationsAndScalesFeatureOnes() throws {
        let f = try Self.fixture.get()
        let plugin = SyntheticSquaresPlugin()
        let data = try plugin.open(f.archive, options: [:])
        let c = try CoherencyCommand.compute(outcome: f.outcome, folder: f.folder, family: try plugin.family("tiny-mlp"), data: data,
                                             network: "student", layer: nil, scale: 3, inputCount: 2, log: { _ in })
        #expect(c.layer == "fc1" && c.next == "fc2" && c.layerOutput == "relu1")
        #expect(c.maxLogitChange < 1e-4)
        #expect(c.inputs.count == 2)
        let byName = Dictionary(uniqueKeysWithValues: c.summary.map { ($0.name, $0) })
        #expect(byName["entropy at relu1"]!.relativeChange < 1e-3, "entropy maps must not change: \(byName["entropy at relu1"]!)")
        #expect(byName["saliency of the logit"]!.relativeChange < 1e-3)
        // The feature at relu1 scales by 3, so does its saliency: a relative change of 2.
        expectClose(byName["saliency of relu1"]!.relativeChange, 2, tol: 1e-3)
        try JSONEncoder.sorted.encode(c).write(to: f.folder.appendingPathComponent("coherency.json"))
        defer { try? FileManager.default.removeItem(at: f.folder.appendingPathComponent("coherency.json")) }
        let run = try ReportRun.load(f.folder)
        #expect(run.coherency == c)
        let html = ReportHTML.render(run)
        #expect(html.contains("id=\"coherency-table\"") && html.contains("data-kind=\"unit-map\""))
        #expect(html.contains("saliency of relu1") && html.contains(">changes<") && html.contains(">unchanged<"))
    }

    @Test func statusSaysTheRunIsComplete() throws {
        let f = try Self.fixture.get()
        let (lines, done) = try StatusCommand.status(f.folder)
        #expect(done, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("train  teacher") && $0.contains("3/3") })
        #expect(lines.contains { $0.hasPrefix("maps   student") })
        #expect(lines.last?.hasPrefix("summary:") == true && lines.last!.contains("complete"))
        // A folder without a store is reported, not an error.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-status-empty-\(getpid())")
        let (l2, d2) = try StatusCommand.status(empty)
        #expect(!d2 && l2.last == "summary: nothing done")
    }

    @Test func reportCommandWritesTheFileAndHelpIsGeneric() throws {
        let f = try Self.fixture.get()
        let out = f.folder.appendingPathComponent("custom.html")
        let command = try ReportCommand.parse([f.folder.path, "--output", out.path])
        try command.run()
        let html = try String(contentsOf: out, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        for command in [ReportCommand.self, CoherencyCommand.self, StatusCommand.self] as [ParsableCommand.Type] {
            let help = KDTool.helpMessage(for: command).lowercased()
            #expect(help.contains("usage: kd-tool \(command.configuration.commandName!)"))
            for word in ["image", "pixel", "vgg", "fc1", "composite", "token"] { #expect(!help.contains(word), "\(command): \(word)") }
        }
        #expect(KDTool.helpMessage().contains("report") && KDTool.helpMessage().contains("coherency") && KDTool.helpMessage().contains("status"))
    }
}
