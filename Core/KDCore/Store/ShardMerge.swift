// Joining the stores of a sharded run (`kd-tool merge DIR`): every study folder's shard stores
// (`results.shard-I-of-N.sqlite`) into its `results.sqlite`, refusing stores of another experiment or
// other settings and two different values for one map.

import Foundation

/// Why shard stores could not be merged. Nothing is written when any folder is refused.
public enum ShardMergeError: Error, Equatable, CustomStringConvertible {
    case noShardStores(folder: String)
    case shardStillRunning(store: String, holder: String)
    case differentMetadata(folder: String, key: String, store: String, value: String, otherStore: String, otherValue: String)
    case differentRunSettings(folder: String, run: String, store: String, otherStore: String)
    case conflictingMap(folder: String, map: String, store: String, otherStore: String)

    public var description: String {
        switch self {
        case let .noShardStores(folder):
            return "\(folder) holds no shard stores (results.shard-I-of-N.sqlite in its study folders); run `kd-tool experiment run FILE --output \(folder) --shard I/N --stage maps` first"
        case let .shardStillRunning(store, holder):
            return "\(store) is still being written by a running shard (\(holder)); wait for it to finish, then merge"
        case let .differentMetadata(folder, key, store, value, other, otherValue):
            return "\(folder): \(store) and \(other) come from different \(key == ResultsStore.settingsHashKey ? "entropy settings (settings hash)" : key + "s") (\(value) vs \(otherValue)); merge only the shards of one experiment run with one set of settings (remove or move the stray store)"
        case let .differentRunSettings(folder, run, store, other):
            return "\(folder): \(store) and \(other) register run '\(run)' with different training or dataset settings; they belong to different studies and cannot be merged"
        case let .conflictingMap(folder, map, store, other):
            return "\(folder): \(store) and \(other) hold different values for the same map (\(map)); the runs were not the same, so neither is kept — rerun that shard"
        }
    }
}

public enum ShardMerge {
    /// What was merged into one study folder.
    public struct FolderSummary: Equatable {
        public var folder: String
        public var shardStores: [String]
        /// Maps copied into `results.sqlite`.
        public var merged: Int
        /// Maps `results.sqlite` held already, with the same values.
        public var alreadyPresent: Int
    }

    /// Whether `name` is a shard store's file name (`results.shard-I-of-N.sqlite`).
    public static func isShardStore(_ name: String) -> Bool {
        guard name.hasPrefix("results.shard-"), name.hasSuffix(".sqlite") else { return false }
        let middle = name.dropFirst("results.shard-".count).dropLast(".sqlite".count).components(separatedBy: "-of-")
        return middle.count == 2 && middle.allSatisfy { Int($0) != nil }
    }

    /// Study folders under `root` (itself included) holding shard stores, sorted by path.
    public static func studyFolders(under root: URL) -> [URL] {
        var out = Set<String>()
        if let walker = FileManager.default.enumerator(atPath: root.path) {
            for case let rel as String in walker where isShardStore((rel as NSString).lastPathComponent) {
                out.insert((root.appendingPathComponent(rel).deletingLastPathComponent().standardizedFileURL.path))
            }
        }
        return out.sorted().map { URL(fileURLWithPath: $0, isDirectory: true) }
    }

    /// Merges every study folder's shard stores under `root` into its `results.sqlite`: all folders are
    /// checked first (metadata, run registrations, map values), then written; the shard stores are kept.
    public static func merge(root: URL) throws -> [FolderSummary] {
        let folders = studyFolders(under: root)
        guard !folders.isEmpty else { throw ShardMergeError.noShardStores(folder: root.path) }
        var locks: [RunFolderLock] = []
        defer { for l in locks { l.release() } }
        var plans: [(summary: FolderSummary, main: ResultsStore, runs: [String: String], meta: [String: String], maps: [StoredEntropyMap])] = []
        defer { for p in plans { p.main.close() } }
        for folder in folders {
            locks.append(try RunFolderLock(folder: folder.path))
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter(isShardStore).sorted()
            let main = try ResultsStore(path: folder.appendingPathComponent(ResultsStore.fileName).path)
            var meta = try main.metadata(), metaSource = [String: String]()
            for k in meta.keys { metaSource[k] = ResultsStore.fileName }
            var runs: [String: String] = [:], runSource: [String: String] = [:]
            for r in try main.runs() { runs[r] = try main.runSettings(r); runSource[r] = ResultsStore.fileName }
            var maps: [EntropyMapKey: (StoredEntropyMap, String)] = [:]
            for name in names {
                // A shard still running holds its lock: its store is not finished.
                let lockName = ".kd-tool." + name.dropFirst("results.".count).dropLast(".sqlite".count) + ".lock"
                do { try RunFolderLock(folder: folder.path, fileName: lockName).release() } catch let RunFolderLockError.held(_, holder) {
                    throw ShardMergeError.shardStillRunning(store: folder.appendingPathComponent(name).path, holder: holder)
                }
                let store = try ResultsStore(path: folder.appendingPathComponent(name).path)
                defer { store.close() }
                for (k, v) in try store.metadata() {
                    if let old = meta[k], old != v {
                        throw ShardMergeError.differentMetadata(folder: folder.path, key: k, store: name, value: v,
                                                                otherStore: metaSource[k]!, otherValue: old)
                    }
                    meta[k] = v; metaSource[k] = metaSource[k] ?? name
                }
                for r in try store.runs() {
                    let settings = try store.runSettings(r) ?? ""
                    if let old = runs[r], old != settings {
                        throw ShardMergeError.differentRunSettings(folder: folder.path, run: r, store: name, otherStore: runSource[r]!)
                    }
                    runs[r] = settings; runSource[r] = runSource[r] ?? name
                    for key in try store.mapKeys(run: r) {
                        guard let m = try store.map(key) else { continue }
                        if let (old, source) = maps[key] {
                            guard same(old, m) else {
                                throw ShardMergeError.conflictingMap(folder: folder.path, map: describe(key), store: name, otherStore: source)
                            }
                        } else { maps[key] = (m, name) }
                    }
                }
            }
            var summary = FolderSummary(folder: folder.path, shardStores: names, merged: 0, alreadyPresent: 0)
            var toWrite: [StoredEntropyMap] = []
            for (key, (m, source)) in maps.sorted(by: { describe($0.key) < describe($1.key) }) {
                if let existing = try main.map(key) {
                    guard same(existing, m) else {
                        throw ShardMergeError.conflictingMap(folder: folder.path, map: describe(key), store: source, otherStore: ResultsStore.fileName)
                    }
                    summary.alreadyPresent += 1
                } else { toWrite.append(m) }
            }
            summary.merged = toWrite.count
            plans.append((summary, main, runs, meta, toWrite))
        }
        // Everything checked: write.
        for p in plans {
            for (r, settings) in p.runs.sorted(by: { $0.key < $1.key }) { try p.main.registerRun(r, settingsJSON: settings) }
            for (k, v) in p.meta { try p.main.setMetadata(k, v) }
            try p.main.putMaps(p.maps)
        }
        return plans.map(\.summary)
    }

    /// The same stored map, bit for bit.
    static func same(_ a: StoredEntropyMap, _ b: StoredEntropyMap) -> Bool {
        var x = a
        guard a.entropies.map(\.bitPattern) == b.entropies.map(\.bitPattern) else { return false }
        x.entropies = b.entropies
        return x.key == b.key && x.foreground == b.foreground && x.featureVariance.bitPattern == b.featureVariance.bitPattern
            && x.finalLoss.bitPattern == b.finalLoss.bitPattern && x.alpha.bitPattern == b.alpha.bitPattern
            && x.chosenStep == b.chosenStep && x.meanEntropy.bitPattern == b.meanEntropy.bitPattern
            && x.lossFlattened == b.lossFlattened && x.targetReached == b.targetReached
    }

    static func describe(_ k: EntropyMapKey) -> String {
        "run \(k.run), \(k.network) epoch \(k.epoch), input \(k.inputID), tap \(k.tap), settings \(k.settingsHash)"
    }
}
