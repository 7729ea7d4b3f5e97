import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// Sharded experiment runs (Docs/Methods.md "Sharded runs"): 3 shards × 3 stages + merge + a final run give
/// the same tables, study.json files and stored maps, bit for bit, as one unsharded run; stages run out of
/// order and stray stores are refused with a message saying what to do.
@Suite(.serialized) struct ShardingTests {
    static let yaml = ExperimentTests.base + """
    methods: [feature, hinton]
    seeds: [1]
    checkpoints: every-epoch
    sweeps:
      - {name: w, teacher-width: [0.5]}
      - {name: b, threshold: [0.3]}
    """

    static func experiment(_ dir: URL, output: String) throws -> Experiment {
        var e = try ExperimentTests.parse(yaml, in: dir)
        e.output = dir.appendingPathComponent(output).path
        return e
    }

    static func runner(_ e: Experiment, _ lines: inout [String]) throws -> ExperimentRunner {
        var r = try ExperimentRunner(experiment: e, registry: ExperimentTests.registry())
        r.log = { _ in }
        return r
    }

    /// study.json without its timing fields.
    static func studyJSON(_ url: URL) throws -> NSDictionary {
        var o = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        o.removeValue(forKey: "seconds")
        return o as NSDictionary
    }

    /// Every stored map of a store, by key, as bytes.
    static func maps(_ path: String) throws -> [EntropyMapKey: StoredEntropyMap] {
        let store = try ResultsStore(path: path)
        defer { store.close() }
        var out: [EntropyMapKey: StoredEntropyMap] = [:]
        for run in try store.runs() { for k in try store.mapKeys(run: run) { out[k] = try store.map(k) } }
        return out
    }

    @Test func threeShardsOfThreeStagesAndAMergeEqualOneUnshardedRunBitForBit() throws {
        let dir = try ExperimentTests.folder("shards")
        var lines: [String] = []
        // One unsharded run.
        let plain = try Self.experiment(dir, output: "plain")
        try Self.runner(plain, &lines).run()
        // The same experiment as 3 shards of each stage, then merge, then the final run.
        let sharded = try Self.experiment(dir, output: "sharded")
        let shardedRoot = URL(fileURLWithPath: sharded.output)
        var summaries: [String] = []
        for stage in ShardStage.allCases {
            for i in 1...3 { summaries.append(try Self.runner(sharded, &lines).runShard(try StudyShard(index: i, count: 3), stage: stage)) }
        }
        // 2 studies (seed-1 and w/teacher-width=0.5/seed-1): 4 teacher/baseline items, 4 students.
        #expect(summaries[0].contains("Shard 1/3 of stage train-teachers: 2 of 4 work items"), "\(summaries[0])")
        #expect(summaries[3].contains("Shard 1/3 of stage train-students: 2 of 4 work items"), "\(summaries[3])")
        #expect(summaries[6].contains("Shard 1/3 of stage maps: 24 of 72 work items") && summaries[6].contains("maps → results.shard-1-of-3.sqlite"),
                "\(summaries[6...].joined())")
        let studyFolders = ShardMerge.studyFolders(under: shardedRoot).map(\.lastPathComponent)
        #expect(studyFolders.count == 2, "\(studyFolders)")
        let merged = try ShardMerge.merge(root: shardedRoot)
        #expect(merged.count == 2 && merged.allSatisfy { $0.merged > 0 && $0.alreadyPresent == 0 && $0.shardStores.count == 3 }, "\(merged)")
        // Merging again copies nothing and changes nothing.
        #expect(try ShardMerge.merge(root: shardedRoot).allSatisfy { $0.merged == 0 && $0.alreadyPresent > 0 })
        var final = try ExperimentRunner(experiment: sharded, registry: ExperimentTests.registry())
        var finalLines: [String] = []
        final.log = { finalLines.append($0) }
        try final.run()
        #expect(!finalLines.contains { $0.contains(", checkpoint") }, "the final run must train nothing")
        #expect(!finalLines.contains { $0.contains(" maps (") && !$0.contains("(0 computed") }, "the final run must compute no map")

        let a = URL(fileURLWithPath: plain.output), b = shardedRoot
        let csvA = try String(contentsOf: a.appendingPathComponent("experiment.csv"), encoding: .utf8)
        #expect(csvA.split(separator: "\n").count == 1 + 3 * 3, "\(csvA)")
        #expect(try String(contentsOf: b.appendingPathComponent("experiment.csv"), encoding: .utf8) == csvA)
        for study in ["seed-1", "w/teacher-width=0.5/seed-1", "b/threshold=0.3/seed-1"] {
            let ja = try Self.studyJSON(a.appendingPathComponent(study).appendingPathComponent("study.json"))
            let jb = try Self.studyJSON(b.appendingPathComponent(study).appendingPathComponent("study.json"))
            #expect(ja == jb, "\(study)/study.json differs")
        }
        for study in ["seed-1", "w/teacher-width=0.5/seed-1"] {
            let ma = try Self.maps(a.appendingPathComponent(study).appendingPathComponent("results.sqlite").path)
            let mb = try Self.maps(b.appendingPathComponent(study).appendingPathComponent("results.sqlite").path)
            // 2 students + baseline at epochs 0…2 (every-epoch) × 4 inputs.
            #expect(ma.count == 3 * 3 * 4, "\(study): \(ma.count) maps")
            #expect(Set(ma.keys) == Set(mb.keys), "\(study): the stored map keys differ")
            for (k, m) in ma {
                #expect(mb[k].map { $0.entropies.map(\.bitPattern) == m.entropies.map(\.bitPattern) && $0 == m } == true,
                        "\(study): map \(k.network) epoch \(k.epoch) \(k.inputID) differs")
            }
        }
    }

    @Test func stagesOutOfOrderAndStrayStoresAreRefusedSayingWhatToDo() throws {
        let dir = try ExperimentTests.folder("shards-order")
        var lines: [String] = []
        let e = try Self.experiment(dir, output: "out")
        let root = URL(fileURLWithPath: e.output)
        // Students before their teacher: the message names the stage and shard to run first.
        do {
            try Self.runner(e, &lines).runShard(try StudyShard(index: 1, count: 2), stage: .trainStudents)
            Issue.record("students trained before their teacher")
        } catch let error as ShardPrerequisiteError {
            #expect("\(error)".contains("teacher of seed-1 is not trained: run `--stage train-teachers --shard 1/2` first"), "\(error)")
        }
        do {
            try Self.runner(e, &lines).runShard(try StudyShard(index: 2, count: 2), stage: .maps)
            Issue.record("maps computed before training")
        } catch let error as ShardPrerequisiteError {
            #expect("\(error)".contains("baseline of seed-1 is not trained: run `--stage train-teachers --shard 2/2` first"), "\(error)")
        }
        #expect(throws: ShardMergeError.noShardStores(folder: root.path)) { try ShardMerge.merge(root: root) }
        #expect(throws: (any Error).self) { try StudyShard(index: 4, count: 3) }

        // Two stores with different values for one map: refused, nothing written.
        let study = root.appendingPathComponent("seed-1")
        try FileManager.default.createDirectory(at: study, withIntermediateDirectories: true)
        let key = EntropyMapKey(run: "study", network: "baseline", tap: "relu1", settingsHash: "h", epoch: 1, inputID: "x")
        func store(_ name: String, _ value: Float, experiment: String = "e1") throws {
            let s = try ResultsStore(path: study.appendingPathComponent(name).path)
            defer { s.close() }
            try s.registerRun("study", settingsJSON: "{}")
            try s.setMetadata(ResultsStore.experimentKey, experiment)
            try s.putMap(StoredEntropyMap(key: key, entropies: [value, 1], foreground: [true, false], featureVariance: 1, finalLoss: 0,
                                          alpha: 1, chosenStep: 1, meanEntropy: 1, lossFlattened: true, targetReached: nil))
        }
        try store("results.shard-1-of-2.sqlite", 0.5)
        try store("results.shard-2-of-2.sqlite", 0.25)
        do {
            _ = try ShardMerge.merge(root: root)
            Issue.record("conflicting maps merged")
        } catch let ShardMergeError.conflictingMap(_, map, s, other) {
            #expect(map.contains("baseline epoch 1, input x") && s == "results.shard-2-of-2.sqlite" && other == "results.shard-1-of-2.sqlite")
        }
        #expect(try Self.maps(study.appendingPathComponent("results.sqlite").path).isEmpty, "a refused merge writes nothing")
        // Another experiment's store: refused.
        try store("results.shard-2-of-2.sqlite", 0.5, experiment: "e2")
        #expect(throws: ShardMergeError.self) { try ShardMerge.merge(root: root) }
        try store("results.shard-2-of-2.sqlite", 0.5, experiment: "e1")
        #expect(try ShardMerge.merge(root: root).first?.merged == 1)
    }
}
