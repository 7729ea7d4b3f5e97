import ArgumentParser
import Foundation
import KDCore

/// The stages of a sharded experiment run (`kd-tool experiment run FILE --output DIR --shard I/N --stage S`).
enum ShardStage: String, CaseIterable, ExpressibleByArgument {
    /// Every study's teacher and baseline (they need nothing else).
    case trainTeachers = "train-teachers"
    /// Every method's student (needs its study's teacher).
    case trainStudents = "train-students"
    /// Every entropy map: (study, network, checkpoint, input) (needs every network trained).
    case maps
}

/// A stage asked for work whose prerequisite another stage (or shard) has not done yet.
struct ShardPrerequisiteError: Error, CustomStringConvertible {
    var missing: [String]
    var description: String {
        "cannot run this stage yet: " + missing.prefix(8).joined(separator: "; ") + (missing.count > 8 ? "; … (\(missing.count) in all)" : "")
    }
}

extension ExperimentRunner {
    /// The studies that train in their own folder, once each, in the fixed plan order (a threshold-only sweep
    /// point reuses its seed's folder and has no work of its own).
    func workPlans(root: URL) -> [StudyPlan] {
        var seen = Set<String>()
        return plans(root: root).filter { $0.ownsFolder && seen.insert($0.folder.standardizedFileURL.path).inserted }
    }

    /// The experiment's identity for the stores: a hash of its resolved file without the output folder, so
    /// `kd-tool merge` refuses stores written by another experiment.
    func experimentIdentity() throws -> String {
        var e = experiment
        e.output = ""
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in try e.resolvedYAML().utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return String(h, radix: 16)
    }

    /// Runs shard `shard` of `stage`: of the stage's work items, enumerated in a fixed order over the studies,
    /// those whose position p (0-based) has p mod N == I − 1. Maps go to each study folder's
    /// `results.shard-I-of-N.sqlite`; training writes the networks' own folders. Returns a summary.
    @discardableResult
    func runShard(_ shard: StudyShard, stage: ShardStage) throws -> String {
        let e = experiment
        _ = try e.checkAgainstData(plugin: plugin)
        let root = URL(fileURLWithPath: e.output)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try e.resolvedYAML().write(to: root.appendingPathComponent("resolved.yaml"), atomically: true, encoding: .utf8)
        let family = try plugin.family(e.config.family)
        let sources = Sources()
        let work = workPlans(root: root)
        func relative(_ u: URL) -> String {
            let p = u.standardizedFileURL.path, r = root.standardizedFileURL.path
            return p.hasPrefix(r + "/") ? String(p.dropFirst(r.count + 1)) : p
        }
        // The training items of every study, in order: teachers and baselines, then students.
        var trainers: [[String]] = []
        for plan in work { trainers.append(try makeStudy(plan, family: family, sources: sources).networksTrainedHere()) }
        let teacherItems = trainers.enumerated().flatMap { i, ns in ns.filter { $0 == "teacher" || $0 == "baseline" }.map { (i, $0) } }
        let studentItems = trainers.enumerated().flatMap { i, ns in ns.filter { $0 != "teacher" && $0 != "baseline" }.map { (i, $0) } }
        func owner(_ study: Int, _ network: String) -> String {
            let (items, s) = network == "teacher" || network == "baseline" ? (teacherItems, ShardStage.trainTeachers) : (studentItems, .trainStudents)
            let p = items.firstIndex { $0 == (study, network) } ?? 0
            return "--stage \(s.rawValue) --shard \(StudyShard.owner(of: p, count: shard.count))/\(shard.count)"
        }
        var lines: [String] = []
        var taken = 0, total = 0
        switch stage {
        case .trainTeachers, .trainStudents:
            let items = stage == .trainTeachers ? teacherItems : studentItems
            total = items.count
            let mine = items.enumerated().filter { shard.takes($0.offset) }.map(\.element)
            taken = mine.count
            for (i, plan) in work.enumerated() {
                let names = mine.filter { $0.0 == i }.map(\.1)
                if names.isEmpty { continue }
                let s = try makeStudy(plan, family: family, sources: sources)
                if stage == .trainStudents, trainers[i].contains("teacher"), try !s.isTrained("teacher") {
                    throw ShardPrerequisiteError(missing: ["the teacher of \(relative(plan.folder)) is not trained: run `\(owner(i, "teacher"))` first"])
                }
                s.shard = shard
                s.trainsOnly = Set(names)
                log("— shard \(shard) \(stage.rawValue): \(relative(plan.folder)): \(names.joined(separator: ", "))")
                defer { s.close() }
                if names.contains("teacher") { try s.trainTeacher() }
                if names.contains("baseline") { try s.trainBaseline() }
                for m in plan.config.methods where names.contains(Study.networkName(m, config: plan.config)) { try s.trainStudent(m) }
                lines.append("  \(relative(plan.folder)): trained \(names.joined(separator: ", "))")
            }
        case .maps:
            var missing: [String] = []
            for (i, plan) in work.enumerated() {
                let s = try makeStudy(plan, family: family, sources: sources)
                for n in trainers[i] where try !s.isTrained(n) {
                    missing.append("the \(n) of \(relative(plan.folder)) is not trained: run `\(owner(i, n))` first")
                }
            }
            if !missing.isEmpty { throw ShardPrerequisiteError(missing: missing) }
            for plan in work {
                let s = try makeStudy(plan, family: family, sources: sources)
                s.trainsOnly = []
                let items = try s.mapItems()
                let mine = items.indices.filter { shard.takes(total + $0) }.map { items[$0] }
                total += items.count
                taken += mine.count
                if mine.isEmpty { continue }
                s.shard = shard
                log("— shard \(shard) maps: \(relative(plan.folder)): \(mine.count) of its \(items.count) maps")
                defer { s.close() }
                try s.storeMaps(mine)
                lines.append("  \(relative(plan.folder)): \(mine.count) maps → \(shard.storeFileName)")
            }
        }
        display.finish()
        let head = "Shard \(shard) of stage \(stage.rawValue): \(taken) of \(total) work items in \(e.output)\n"
        return head + lines.map { $0 + "\n" }.joined()
    }
}
