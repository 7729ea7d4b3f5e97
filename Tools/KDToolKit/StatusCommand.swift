import ArgumentParser
import Foundation
import KDCore

/// `kd-tool status RUN_FOLDER`: what a run (finished, interrupted or still going) has done and what remains,
/// from its training folders and its results store — without loading any network.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Say what a run folder has done and what remains: training epochs per network, entropy maps per network and checkpoint, report files.",
        discussion: """
        Reads the run's recorded settings (results.sqlite), its training folders (steps.csv and the \
        epoch-NNNN checkpoints) and its stored entropy maps, and prints one line per network and stage, one \
        per analysed network with its maps per checkpoint, and a summary. Safe to run while the study runs.
        """)

    @Argument(help: "The run folder: an analyze, quickstart or experiment --output (every seed-N/ study in it), or one study folder.") var folder: String

    func run() throws {
        let dirs = try RunFolders.select(URL(fileURLWithPath: folder), seed: nil)
        var allDone = true
        for dir in dirs {
            if dirs.count > 1 || dir.path != URL(fileURLWithPath: folder).path { print("== \(dir.lastPathComponent)") }
            let (lines, done) = try Self.status(dir)
            for l in lines { print(l) }
            allDone = allDone && done
        }
        if !allDone { throw ExitCode(3) }
    }

    /// The training side of the run, as recorded in the store before anything is trained.
    struct Recorded: Decodable {
        var family: String
        var distillationTap: String
        var teacherEpochs, studentEpochs, studentStage2Epochs, baselineEpochs: Int
        var checkpoints: CheckpointSchedule
        var teacherSource: NetworkSource?
        /// The compared methods (one student each); absent in runs recorded before methods existed.
        var methods: [DistillationMethod]?
        /// Networks brought trained from elsewhere (analysed, never trained here).
        var trainedWeights: [String: String]?

        /// Each student's network name (its folder), and whether it trains in two stages.
        var students: [(name: String, twoStage: Bool)] {
            let ms = methods ?? [.paper]
            return ms.map { (ms == [.paper] ? "student" : "student-\($0.id)", $0.isTwoStage) }
        }
    }

    /// The epochs a training folder has completed: the last epoch in steps.csv, or its latest checkpoint.
    static func epochsDone(_ dir: URL) -> Int {
        var done = 0
        if let text = try? String(contentsOf: dir.appendingPathComponent("steps.csv"), encoding: .utf8) {
            for line in text.split(separator: "\n").dropFirst() {
                if let e = line.split(separator: ",").first.flatMap({ Int($0) }) { done = max(done, e) }
            }
        }
        if let e = (try? Study.checkpointEpochs(in: dir))?.last { done = max(done, e) }
        return done
    }

    /// Status lines and whether everything is done.
    static func status(_ folder: URL) throws -> (lines: [String], done: Bool) {
        let storePath = folder.appendingPathComponent("results.sqlite").path
        guard FileManager.default.fileExists(atPath: storePath) else {
            return (["\(folder.path): no results.sqlite — the run has not started (or this is not a run folder)",
                     "summary: nothing done"], false)
        }
        let store = try ResultsStore(path: storePath)
        defer { store.close() }
        guard let json = try store.runSettings("study"),
              let recorded = try? JSONDecoder().decode(Recorded.self, from: Data(json.utf8)) else {
            return (["\(storePath): no recorded study settings", "summary: nothing done"], false)
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let outcome = try? decoder.decode(Study.Outcome.self, from: Data(contentsOf: folder.appendingPathComponent("study.json")))
        var lines: [String] = []
        var remaining: [String] = []
        var trainedDone = 0, trainedTotal = 0

        // Training: one line per folder.
        let teacherTrained: Bool = { if case .trained = recorded.teacherSource { return false }; return true }()
        let brought = recorded.trainedWeights ?? [:]
        // Names are padded to one column, wide enough for the longest (`student-attention stage 2`).
        let width = max(16, recorded.students.map { $0.name.count + ($0.twoStage ? 8 : 0) }.max() ?? 0)
        var stages: [(String, String, Int)] = [
            ("teacher", "teacher", teacherTrained ? recorded.teacherEpochs : 0),
            ("baseline", "baseline", recorded.baselineEpochs),
        ]
        for st in recorded.students {
            stages += st.twoStage ? [("\(st.name) stage 1", "\(st.name)/stage1", recorded.studentEpochs),
                                     ("\(st.name) stage 2", "\(st.name)/stage2", recorded.studentStage2Epochs)]
                                  : [(st.name, st.name, recorded.baselineEpochs)]
        }
        for (name, path, _) in stages {
            if let network = path.split(separator: "/").first.map(String.init), let source = brought[network] {
                lines.append("train  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + " brought trained from \(source)")
            }
        }
        stages.removeAll { brought[String($0.1.split(separator: "/").first ?? "")] != nil }
        for (name, path, total) in stages {
            let dir = folder.appendingPathComponent(path)
            let done = min(epochsDone(dir), total)
            let expected = recorded.checkpoints.epochs(total: total)
            let have = Set((try? Study.checkpointEpochs(in: dir)) ?? [])
            let checkpoints = expected.filter { have.contains($0) }.count
            trainedDone += done; trainedTotal += total
            lines.append("train  " + name.padding(toLength: width, withPad: " ", startingAt: 0)
                         + " \(done)/\(total) epochs, \(checkpoints)/\(expected.count) checkpoints"
                         + (done == total ? "" : "  (remaining: epochs \(done + 1)–\(total))"))
            if done < total { remaining.append("\(name): \(total - done) epochs") }
        }

        // Maps: per analysed network, per checkpoint.
        let keys = try store.mapKeys(run: "study")
        let tap = outcome?.config.tap ?? Dictionary(grouping: keys, by: \.tap).max { $0.value.count < $1.value.count }?.key
        let tapKeys = keys.filter { $0.tap == tap }
        // The engine settings in use: the run's own when study.json says, else the hash with the most maps.
        let hash = outcome.map(ReportRun.settingsHash) ?? Dictionary(grouping: tapKeys, by: \.settingsHash).max { $0.value.count < $1.value.count }?.key
        let current = tapKeys.filter { $0.settingsHash == hash }
        let inputs = outcome?.inputIDs.count ?? Set(current.map(\.inputID)).count
        let inputsNote = outcome != nil ? "" : " (inputs: the most seen in the store; study.json not written yet)"
        let studentStage = tap == nil || tap == recorded.distillationTap ? ("student/stage1", recorded.studentEpochs)
                                                                         : ("student/stage2", recorded.studentStage2Epochs)
        var mapsDone = 0, mapsTotal = 0
        let analysed: [(String, [Int])] = recorded.students.map { st in
            (st.name, outcome?.analysedEpochs[st.name]
                ?? recorded.checkpoints.epochs(total: st.twoStage ? studentStage.1 : recorded.baselineEpochs))
        } + [
            ("baseline", outcome?.analysedEpochs["baseline"] ?? recorded.checkpoints.epochs(total: recorded.baselineEpochs)),
            ("teacher", outcome.map { $0.analysedEpochs["teacher"] ?? [] } ?? [teacherTrained ? recorded.teacherEpochs : 0]),
        ]
        for (net, epochs) in analysed {
            let mine = current.filter { $0.network == net }
            var perEpoch: [String] = [], missing: [Int] = []
            for e in epochs {
                let n = Set(mine.filter { $0.epoch == e }.map(\.inputID)).count
                perEpoch.append("E\(e) \(n)/\(inputs)")
                mapsDone += min(n, inputs); mapsTotal += inputs
                if n < inputs { missing.append(e) }
            }
            lines.append("maps   \(net.padding(toLength: width, withPad: " ", startingAt: 0)) " + perEpoch.joined(separator: ", ")
                         + (missing.isEmpty ? "" : "  (remaining: checkpoints \(missing.map(String.init).joined(separator: ", ")))"))
            if !missing.isEmpty { remaining.append("\(net) maps at \(missing.count) checkpoint\(missing.count == 1 ? "" : "s")") }
        }
        if let tap { lines.append("maps are at tap \(tap), engine settings \(hash ?? "?")\(inputsNote)") }
        let others = Set(keys.map(\.settingsHash)).subtracting([hash ?? ""]).count
        if others > 0 { lines.append("the store also holds maps of \(others) other engine setting(s) or taps (kept, not used)") }

        // Files written at the end.
        let files = ["study.json", "report.txt", "table5.csv", "per_input.csv", "curves.csv", "pictures/index.csv", "report.html", "coherency.json"]
        let present = files.filter { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
        lines.append("files  " + files.map { "\($0) \(present.contains($0) ? "yes" : "no")" }.joined(separator: ", "))
        if !present.contains("study.json") { remaining.append("the report files (written when the study ends)") }
        else if !present.contains("report.html") { lines.append("next: kd-tool report \(folder.path)") }
        let done = remaining.isEmpty
        lines.append(String(format: "summary: training %d/%d epochs, maps %d/%d; ", trainedDone, trainedTotal, mapsDone, mapsTotal)
                     + (done ? "the study is complete" : "remaining: " + remaining.joined(separator: "; ")))
        return (lines, done)
    }
}
