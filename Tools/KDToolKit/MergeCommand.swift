import ArgumentParser
import Foundation
import KDCore

/// `kd-tool merge DIR`: joins the shard stores of a sharded experiment run (Docs/Methods.md "Sharded runs").
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the shard stores of a sharded run into each study folder's results.sqlite.",
        discussion: """
        After every shard of `kd-tool experiment run FILE --output DIR --shard I/N --stage maps` has finished, \
        `kd-tool merge DIR` copies the maps of every study folder's results.shard-I-of-N.sqlite into its \
        results.sqlite. It refuses, writing nothing, stores of a different experiment or entropy settings, \
        different run registrations, two different values for the same map, and a shard still running. \
        Merging again is harmless (maps already present with the same value are counted, not copied). Then run \
        `kd-tool experiment run FILE --output DIR` without --shard to write the tables.
        """)

    @Argument(help: "The experiment's output folder (the --output of the shards).") var folder: String

    func run() throws {
        let root = URL(fileURLWithPath: folder)
        let summaries = try ShardMerge.merge(root: root)
        let base = root.standardizedFileURL.path
        for s in summaries {
            let name = s.folder == base ? "." : (s.folder.hasPrefix(base + "/") ? String(s.folder.dropFirst(base.count + 1)) : s.folder)
            print("\(name): \(s.merged) maps merged, \(s.alreadyPresent) already present, from \(s.shardStores.count) shard store\(s.shardStores.count == 1 ? "" : "s") (\(s.shardStores.joined(separator: ", ")))")
        }
        let merged = summaries.reduce(0) { $0 + $1.merged }
        print("Merged \(merged) maps into \(summaries.count) study folder\(summaries.count == 1 ? "" : "s") of \(folder); now run `kd-tool experiment run FILE --output \(folder)` to write the tables.")
    }
}
