import Foundation
import KDCore
import Testing
import _TestSupport

/// Networks brought trained from elsewhere (StudyConfig.trainedWeights) are analysed, never trained; the
/// study's steps emit progress events and record the dataset path.
@Suite(.serialized) struct StudyTrainedWeightsTests {
    static func setUp(_ name: String) throws -> (URL, SyntheticSquaresPlugin, DatasetSource, StudyConfig, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-brought-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let archive = dir.appendingPathComponent("squares.txt").path
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 16, size: 8)
        let plugin = SyntheticSquaresPlugin()
        var config = StudyConfig(family: "tiny-mlp", tap: "relu1")
        config.teacherEpochs = 2; config.studentEpochs = 2; config.studentStage2Epochs = 1; config.baselineEpochs = 2
        config.batchSize = 8; config.analysedInputs = 4
        config.entropy = .fast; config.entropy.steps = 10
        config.metrics.bootstrapReplicates = 20
        return (dir, plugin, try plugin.open(archive, options: [:]), config, archive)
    }

    /// Every file under `folder` with its modification date.
    static func files(_ folder: URL) -> [String: Date] {
        var out: [String: Date] = [:]
        for case let rel as String in FileManager.default.enumerator(atPath: folder.path) ?? FileManager.DirectoryEnumerator() {
            let attrs = try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(rel).path)
            out[rel] = attrs?[.modificationDate] as? Date
        }
        return out
    }

    @Test func broughtFoldersGiveTheSameMetricsAndNothingTrains() throws {
        let (dir, plugin, data, config, archive) = try Self.setUp("same")
        let family = try plugin.family("tiny-mlp")
        let first = try Study(config: config, family: family, data: data, folder: dir.appendingPathComponent("one"))
        var events: [StudyProgress] = []
        first.progress = { events.append($0) }
        first.datasetPath = archive
        let one = try first.run()
        #expect(one.datasetPath == archive)
        // Progress: every epoch of every network, every map (total = all maps of the study, teacher's included).
        #expect(events.contains(StudyProgress(stage: .training, item: "teacher", done: 2, total: 2)))
        #expect(events.contains(StudyProgress(stage: .training, item: "student stage2", done: 1, total: 1)))
        let maps = events.filter { $0.stage == .maps }
        #expect(maps.count == (3 + 3 + 1) * 4 && maps.last?.done == maps.last?.total && maps.last?.total == 28, "\(maps.last.map { "\($0)" } ?? "none")")

        let before = Self.files(dir.appendingPathComponent("one"))
        var brought = config
        brought.trainedWeights = ["student": dir.appendingPathComponent("one/student").path,
                                  "baseline": dir.appendingPathComponent("one/baseline").path]
        let second = try Study(config: brought, family: family, data: data, folder: dir.appendingPathComponent("two"))
        var lines: [String] = []
        second.log = { lines.append($0) }
        let two = try second.run()
        #expect(two.comparison == one.comparison, "the same networks must give the same metrics")
        #expect(two.analysedEpochs["student"] == one.analysedEpochs["student"] && two.weightDistances == one.weightDistances)
        #expect(two.accuracy["student"] == one.accuracy["student"] && two.accuracy["teacher"] == nil)
        #expect(!lines.contains { $0.contains("training the") }, "nothing may train: \(lines)")
        let written = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("two").path)) ?? []
        #expect(Set(written).isDisjoint(with: ["teacher", "student", "baseline"]), "no training folder may be written: \(written)")
        let after = Self.files(dir.appendingPathComponent("one"))
        #expect(after == before, "the brought folders must not change")
    }

    @Test func oneFinalCheckpointIsAnalysedButDAndRhoAreNotMeasured() throws {
        let (dir, plugin, data, config, _) = try Self.setUp("single")
        let family = try plugin.family("tiny-mlp")
        _ = try Study(config: config, family: family, data: data, folder: dir.appendingPathComponent("one")).run()
        var brought = config
        brought.trainedWeights = ["baseline": dir.appendingPathComponent("one/baseline/epoch-0002.safetensors").path]
        let o = try Study(config: brought, family: family, data: data, folder: dir.appendingPathComponent("two")).run()
        let b = o.comparison.baseline
        #expect(b.rho == nil && b.distanceMean == nil && b.distanceVariance == nil && b.foregroundPoints != nil)
        #expect(o.analysedEpochs["baseline"] == [2] && o.weightDistances["baseline"] == nil)
        #expect(o.notes?.first?.contains("baseline: brought as one final checkpoint") == true, "\(o.notes ?? [])")
        #expect(StudyReport.text(o).contains("not measured: baseline"))
        // The student was trained here, so D and ρ are measured for it.
        #expect(o.comparison.student.distanceMean != nil)
    }

    @Test func badTrainedWeightsAreRefusedBeforeAnyTraining() throws {
        let (dir, plugin, data, config, _) = try Self.setUp("bad")
        let family = try plugin.family("tiny-mlp")
        func message(_ weights: [String: String]) -> String {
            var c = config
            c.trainedWeights = weights
            do {
                _ = try Study(config: c, family: family, data: data, folder: dir.appendingPathComponent("run")).run()
                return "accepted"
            } catch { return "\(error)" }
        }
        let unknown = message(["teacher": dir.path])
        #expect(unknown.contains("no network 'teacher'") && unknown.contains("student, baseline"), "\(unknown)")
        let missing = message(["baseline": dir.appendingPathComponent("nowhere").path])
        #expect(missing.contains("trained-weights baseline: no file or folder at"), "\(missing)")
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let noCheckpoints = message(["student": empty.path])
        #expect(noCheckpoints.contains("holds no epoch-N.safetensors checkpoints"), "\(noCheckpoints)")
        // A network of another width: the tensor, both shapes and the file are named.
        let wide = try family.make(ModelRequest(inputShape: data.sampleShape, task: data.task, width: 2, seed: 1))
        let wideFile = dir.appendingPathComponent("wide.safetensors")
        try Checkpoint.save(wide, to: wideFile)
        let mismatch = message(["baseline": wideFile.path])
        #expect(mismatch.contains("trained-weights baseline: \(wideFile.path)") && mismatch.contains("fc1"), "\(mismatch)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/teacher").path), "nothing may be trained")
    }

    /// The steps a sharded run uses: every map computed alone (`storeMaps` of one item, in a shard's store)
    /// has the same bits as in the whole study's batches, and a study reading those maps computes nothing.
    @Test func everyMapComputedAloneHasTheSameBitsAsInABatch() throws {
        let (dir, plugin, _, base, archive) = try Self.setUp("alone")
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 16, size: 16)
        let data = try plugin.open(archive, options: [:])
        var config = base
        config.teacherWidth = 64; config.studentWidth = 64   // fc1 256 → 1024: large enough for threaded BLAS
        config.teacherEpochs = 1; config.studentEpochs = 1; config.baselineEpochs = 1
        let family = try plugin.family("tiny-mlp")
        let whole = try Study(config: config, family: family, data: data, folder: dir.appendingPathComponent("whole")).run()
        let folder = dir.appendingPathComponent("alone")
        let trainer = try Study(config: config, family: family, data: data, folder: folder)
        try trainer.trainTeacher(); try trainer.trainBaseline(); try trainer.trainStudents()
        trainer.close()
        let items = try trainer.mapItems()
        #expect(items.count == (2 + 2 + 1) * 4, "\(items.count) items")
        for (k, item) in items.enumerated() {
            let shard = try Study(config: config, family: family, data: data, folder: folder)
            shard.shard = try StudyShard(index: k % 2 + 1, count: 2)
            shard.trainsOnly = []
            try shard.storeMaps([item])
            shard.close()
        }
        let merged = try ShardMerge.merge(root: folder)
        #expect(merged.first?.merged == items.count)
        var lines: [String] = []
        let reader = try Study(config: config, family: family, data: data, folder: folder)
        reader.log = { lines.append($0) }
        let again = try reader.run()
        #expect(!lines.contains { $0.contains(" maps (") && !$0.contains("(0 computed") }, "every map must come from the store")
        for (network, maps) in whole.finalMaps {
            for (input, h) in maps {
                #expect(again.finalMaps[network]?[input]?.map(\.bitPattern) == h.map(\.bitPattern), "\(network) \(input)")
            }
        }
        #expect(again.comparison == whole.comparison)
    }

    @Test func oldStudyFilesWithoutTheDatasetPathStillRead() throws {
        let (dir, plugin, data, config, _) = try Self.setUp("old")
        let o = try Study(config: config, family: try plugin.family("tiny-mlp"), data: data, folder: dir.appendingPathComponent("run")).run()
        var json = try JSONSerialization.jsonObject(with: JSONEncoder.sorted.encode(o)) as! [String: Any]
        json.removeValue(forKey: "datasetPath")
        json.removeValue(forKey: "notes")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let decoded = try decoder.decode(Study.Outcome.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(decoded.datasetPath == nil && decoded.inputIDs == o.inputIDs)
    }
}
