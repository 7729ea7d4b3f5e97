import ArgumentParser
import Foundation
import KDCore

/// `kd-tool dataset NAME --output FILE [--option k=v …]`: the dataset builders the registered plugins offer.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Build a derived dataset that kd-tool's plugins read like the originals.",
        discussion: """
        The builders come from the registered plugins (`kd-tool dataset` with no NAME lists them with their \
        options). Every builder's output says what it is and what it is not (which of its parts are synthetic), \
        and the same options give the same file.
        """)

    @Argument(help: "The builder to run; omit it to list the builders and their options.") var name: String?
    @Option(help: "The file to write; it appears only when complete.") var output: String?
    @Option(name: .customLong("option"), help: "A builder setting NAME=VALUE (repeatable).") var builderOptions: [String] = []

    static func builders() throws -> [(plugin: String, builder: DatasetBuilder)] {
        try Registration.registry().plugins.flatMap { p in
            ((p as? DatasetBuilding)?.datasetBuilders ?? []).map { (p.name, $0) }
        }
    }

    func validate() throws {
        for o in builderOptions where !o.contains("=") {
            throw ValidationError("--option takes NAME=VALUE, got '\(o)' (`kd-tool dataset` lists each builder's options)")
        }
        if name != nil {
            guard let output else { throw ValidationError("--output FILE is needed: the file to write") }
            let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) || !isDirectory.boolValue {
                throw ValidationError("The folder of --output (\(folder)) does not exist: create it first.")
            }
        }
    }

    func run() throws {
        let all = try Self.builders()
        guard let name else {
            if all.isEmpty { print("no registered plugin offers a dataset builder"); return }
            for (plugin, b) in all {
                print("\(b.name) (plugin \(plugin)): \(b.summary)")
                for o in b.options { print("  --option \(o.name)=… (default \(o.defaultValue.isEmpty ? "none" : o.defaultValue)): \(o.help)") }
            }
            return
        }
        guard let (_, builder) = all.first(where: { $0.builder.name == name }) else {
            throw ValidationError("no dataset builder named '\(name)'; the builders are: \(all.map(\.builder.name).joined(separator: ", "))")
        }
        var given: [String: String] = [:]
        for o in builderOptions {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            given[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let lines = try builder.build(try builder.resolve(given), output!) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        for line in lines { print(line) }
    }
}
