import Foundation
import ImageGrid
import KDCore
import KDDatasets

/// Runs a study and writes everything a researcher reads afterwards: the printed Table-5 report,
/// `report.txt`, CSV/JSON (StudyReport), and for image datasets the heat maps under `heatmaps/`.
enum StudyRunner {
    static func run(config: StudyConfig, family: ModelFamily, data: DatasetSource, folder: URL) throws -> Study.Outcome {
        let start = Date()
        let study = try Study(config: config, family: family, data: data, folder: folder)
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
        if let images = data as? ImageDataset {
            let n = try writeHeatMaps(outcome, images: images, folder: folder.appendingPathComponent("heatmaps"))
            study.log("wrote \(n) heat maps to \(folder.appendingPathComponent("heatmaps").path)")
        }
        study.log(String(format: "done in %.1f min", Date().timeIntervalSince(start) / 60))
        print(text, terminator: "")
        print("Files: \(folder.path)/{report.txt, study.json, table5.csv, per_input.csv, curves.csv, results.sqlite, heatmaps/}")
        return outcome
    }

    /// One PNG per analysed input: the crop with its fg outline, and the final entropy map of the teacher,
    /// the student and the baseline with their knowledge points.
    static func writeHeatMaps(_ o: Study.Outcome, images: ImageDataset, folder: URL) throws -> Int {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let b = o.config.metrics.threshold
        let networks = ["teacher", "student", "baseline"].filter { o.finalMaps[$0] != nil }
        // Dataset-level H̄ when the metrics use it: the mean over inputs of per-input background means.
        var datasetBaseline: [String: Double] = [:]
        if o.config.metrics.baselineEntropy == .datasetLevel {
            for net in networks {
                var means: [Double] = []
                for (i, h) in o.finalMaps[net]!.enumerated() {
                    let fg = images.foreground(.test, o.inputIndices[i])
                    let bg = zip(h, fg).filter { !$0.1 }.map { Double($0.0) }
                    if !bg.isEmpty { means.append(bg.reduce(0, +) / Double(bg.count)) }
                }
                if !means.isEmpty { datasetBaseline[net] = means.reduce(0, +) / Double(means.count) }
            }
        }
        var written = 0
        for (i, id) in o.inputIDs.enumerated() {
            let index = o.inputIndices[i]
            let fg = images.foreground(.test, index)
            let panels = networks.map { net -> HeatMaps.Panel in
                let h = o.finalMaps[net]![i]
                let epoch = o.analysedEpochs[net]?.last.map { " E\($0)" } ?? ""
                return HeatMaps.Panel(title: net.prefix(1).uppercased() + epoch, entropies: h,
                                      knowledgePoints: HeatMaps.knowledgePoints(h, foreground: fg, threshold: b,
                                                                                baseline: datasetBaseline[net]))
            }
            let picture = HeatMaps.render(image: images.displayImage(.test, index), mask: images.mask(.test, index),
                                          grid: images.options.grid, panels: panels)
            let name = String(format: "input-%03d.png", i)
            try Data(try picture.encodePNG()).write(to: folder.appendingPathComponent(name), options: .atomic)
            written += 1
            _ = id
        }
        var listing = "file,input_id,test_index,class\n"
        for (i, id) in o.inputIDs.enumerated() {
            let label = (try? images.sample(.test, o.inputIndices[i]).label).map { images.classNames[$0] } ?? ""
            listing += String(format: "input-%03d.png", i) + ",\"\(id)\",\(o.inputIndices[i]),\(label)\n"
        }
        try listing.write(to: folder.appendingPathComponent("index.csv"), atomically: true, encoding: .utf8)
        return written
    }
}
