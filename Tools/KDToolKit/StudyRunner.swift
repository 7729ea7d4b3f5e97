import Foundation
import KDCore

/// Runs a study and writes everything a researcher reads afterwards: the printed table, `report.txt`,
/// CSV/JSON (StudyReport), and — when the plugin draws results — one picture per analysed input under
/// `pictures/`.
enum StudyRunner {
    /// `options` are the plugin options the data was opened with; a plugin that augments training batches
    /// (``TrainingAugmenting``) reads its augmentation from them.
    static func run(config: StudyConfig, family: ModelFamily, plugin: ModalityPlugin, data: DatasetSource,
                    options: [String: String] = [:], folder: URL) throws -> Study.Outcome {
        let start = Date()
        let study = try Study(config: config, family: family, data: data, folder: folder)
        if let augmenting = plugin as? TrainingAugmenting {
            study.augmentation = try augmenting.augmentation(try plugin.resolveOptions(options))
        }
        study.log = { line in
            let t = Int(Date().timeIntervalSince(start))
            FileHandle.standardError.write(Data((String(format: "[%02d:%02d] ", t / 60, t % 60) + line + "\n").utf8))
        }
        if !data.problems.isEmpty {
            study.log("\(data.problems.count) records skipped while reading (bad members are reported, the rest go on; all are listed in study.json):")
            for s in data.problems.prefix(20) { study.log("  \(s)") }
        }
        study.log("output folder: \(folder.path)")
        let outcome = try study.run()
        try StudyReport.write(outcome, to: folder)
        let text = StudyReport.text(outcome)
        try text.write(to: folder.appendingPathComponent("report.txt"), atomically: true, encoding: .utf8)
        var files = "report.txt, study.json, table5.csv, per_input.csv, curves.csv, results.sqlite"
        if let painter = plugin as? ResultPictures {
            let pictures = folder.appendingPathComponent("pictures")
            let (written, failed) = try writePictures(outcome, painter: painter, data: data, folder: pictures)
            study.log("wrote \(written) pictures to \(pictures.path)")
            for f in failed.prefix(10) { study.log("  picture not drawn: \(f)") }
            files += ", pictures/"
        }
        study.log(String(format: "done in %.1f min", Date().timeIntervalSince(start) / 60))
        print(text, terminator: "")
        print("Files: \(folder.path)/{\(files)}")
        return outcome
    }

    /// One PNG per analysed input, drawn by the plugin: the input, and the final map of the teacher, the
    /// student and the baseline with their knowledge points (against the same H̄ as the metrics). Inputs are
    /// matched to maps by id, so an input whose map failed leaves a gap, never a shifted picture.
    static func writePictures(_ o: Study.Outcome, painter: ResultPictures, data: DatasetSource,
                              folder: URL) throws -> (written: Int, failed: [String]) {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let networks = ["teacher", "student", "baseline"].filter { o.finalMaps[$0] != nil }
        var written = 0, failed: [String] = []
        var listing = "file,input_id,test_index,target,networks\n"
        for (i, id) in o.inputIDs.enumerated() {
            let name = String(format: "input-%03d.png", i)
            do {
                let sample = try data.sample(.test, o.inputIndices[i])
                var panels: [ResultPanel] = [], drawn: [String] = []
                for net in networks {
                    guard let h = o.finalMaps[net]?[id] else { continue }
                    let epoch = o.analysedEpochs[net]?.last.map { " E\($0)" } ?? ""
                    panels.append(ResultPanel(title: net.prefix(1).uppercased() + epoch, entropies: h,
                                              knowledgePoints: knowledgePoints(h, roles: sample.roles, threshold: o.config.metrics.threshold,
                                                                               baseline: o.datasetBaselines[net])))
                    drawn.append(net)
                }
                let png = try painter.picture(of: sample, from: data, panels: panels)
                try Data(png).write(to: folder.appendingPathComponent(name), options: .atomic)
                written += 1
                let target: String
                switch sample.target {
                case let .label(l): target = l >= 0 && l < data.classNames.count ? data.classNames[l] : "\(l)"
                case let .span(a, b): target = "span \(a)-\(b)"
                }
                listing += "\(name),\"\(id)\",\(o.inputIndices[i]),\"\(target)\",\(drawn.joined(separator: "+"))\n"
            } catch {
                failed.append("\(id): \(error)")
            }
        }
        try listing.write(to: folder.appendingPathComponent("index.csv"), atomically: true, encoding: .utf8)
        return (written, failed)
    }

    /// Knowledge points of one full map (Docs/Method.md §3): H̄ − H_i > b, with H̄ the given dataset-level
    /// value or the mean entropy of this input's background units; ignored units are never points.
    static func knowledgePoints(_ h: [Float], roles: [UnitRole], threshold b: Double, baseline: Double?) -> [Bool] {
        // H̄ over the background units only (ignored units count as "not background").
        guard let hbar = baseline ?? KnowledgePoints.backgroundMean(h, roles.map { $0 != .background }) else {
            return [Bool](repeating: false, count: h.count)
        }
        return zip(h, roles).map { e, r in r != .ignored && KnowledgePoints.isPoint(entropy: e, baseline: hbar, threshold: b) }
    }
}
