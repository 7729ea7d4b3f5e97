import ArgumentParser
import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// The dispatcher's help is reviewed like code: every subcommand has a full help screen, generic help names
/// no modality (modalities come from plugins), and wrong names list the valid ones.
@Suite(.serialized) struct HelpTests {
    /// Words that would tie generic help to one modality or one family.
    static let modalityWords = ["image", "pixel", "fc1", "vgg", "resnet", "alexnet", "fashion", "cub", "voc", "imagenet",
                                "cloud", "pointnet", "modelnet", "token", "bert", "sst", "squad", "sentence", "composite"]

    static let subcommands: [ParsableCommand.Type] = [QuickstartCommand.self, AnalyzeCommand.self, DatasetCommand.self,
                                                      PluginsCommand.self, BenchCommand.self]

    @Test func everySubcommandHasAFullHelpScreen() {
        for command in Self.subcommands {
            let help = KDTool.helpMessage(for: command)
            let name = command.configuration.commandName!
            #expect(help.contains("USAGE: kd-tool \(name)"), "\(name): \(help.prefix(200))")
            #expect(!command.configuration.abstract.isEmpty && command.configuration.abstract.hasSuffix("."),
                    "\(name): the abstract must be a full sentence")
            #expect(help.contains("-h, --help"), "\(name)")
        }
        let root = KDTool.helpMessage()
        for command in Self.subcommands { #expect(root.contains(command.configuration.commandName!)) }
    }

    /// The bench workloads are fixed, modality-shaped networks (Docs/Benchmarks.md): naming them is their point.
    @Test func genericHelpNamesNoModality() {
        let generic: [ParsableCommand.Type] = [KDTool.self, QuickstartCommand.self, AnalyzeCommand.self, DatasetCommand.self, PluginsCommand.self]
        for command in generic {
            let help = KDTool.helpMessage(for: command).lowercased()
            let words = Set(help.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
            let found = Self.modalityWords.filter { words.contains($0) || words.contains($0 + "s") }
            #expect(found.isEmpty, "\(command.configuration.commandName ?? "kd-tool") help names \(found)")
        }
    }

    @Test func bothMentionsAreCheckedByTheWordList() {
        // The check above must be able to fail: help text that names a family is caught.
        let words = Set("analyse fc1 of vgg11-s".split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        #expect(Self.modalityWords.contains { words.contains($0) })
    }

    // MARK: - Wrong names list the valid ones

    static func withPlugins<T>(_ body: (URL) throws -> T) throws -> T {
        Registration.install([SyntheticSquaresPlugin()])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtoolkit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try SyntheticSquaresPlugin.write(to: dir.appendingPathComponent("squares.txt").path, perSplit: 4)
        return try body(dir)
    }

    static func runError(_ arguments: [String]) -> String {
        do {
            var command = try KDTool.parseAsRoot(arguments)
            try command.run()
            return ""
        } catch {
            return KDTool.message(for: error)
        }
    }

    @Test func unknownPluginListsTheRegisteredOnes() throws {
        try Self.withPlugins { dir in
            let message = Self.runError(["analyze", "--data", dir.appendingPathComponent("squares.txt").path, "--plugin", "no-such",
                                         "--output", dir.appendingPathComponent("run").path])
            #expect(message.contains("no plugin named 'no-such'") && message.contains("synthetic-squares"), "\(message)")
        }
    }

    @Test func unknownPluginOptionListsTheDeclaredOnes() throws {
        try Self.withPlugins { dir in
            let message = Self.runError(["analyze", "--data", dir.appendingPathComponent("squares.txt").path, "--option", "colour=red",
                                         "--output", dir.appendingPathComponent("run").path])
            #expect(message.contains("no option 'colour'") && message.contains("grid"), "\(message)")
        }
    }

    @Test func unknownTapListsTheLayersBeforeAnyTraining() throws {
        try Self.withPlugins { dir in
            let out = dir.appendingPathComponent("run")
            let message = Self.runError(["analyze", "--data", dir.appendingPathComponent("squares.txt").path, "--tap", "fc9",
                                         "--inputs", "2", "--output", out.path])
            #expect(message.contains("no layer") && message.contains("'fc9'") && message.contains("relu1") && message.contains("fc2"), "\(message)")
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("teacher").path), "trained before checking the tap")
        }
    }

    @Test func unknownFamilyListsTheFamilies() throws {
        try Self.withPlugins { dir in
            let message = Self.runError(["analyze", "--data", dir.appendingPathComponent("squares.txt").path, "--family", "huge",
                                         "--output", dir.appendingPathComponent("run").path])
            #expect(message.contains("no model family 'huge'") && message.contains("tiny-mlp"), "\(message)")
        }
    }

    @Test func unknownQuickstartRunAndBuilderAreNamed() throws {
        try Self.withPlugins { _ in
            let quick = Self.runError(["quickstart", "nothing-like-it"])
            #expect(quick.contains("no registered plugin offers a default run") || quick.contains("the runs are"), "\(quick)")
            let builder = Self.runError(["dataset", "nothing-like-it", "--output", "/tmp/x.tgz"])
            #expect(builder.contains("no dataset builder named 'nothing-like-it'"), "\(builder)")
        }
    }

    @Test func unrecognisedFileNamesTheTriedPlugins() throws {
        try Self.withPlugins { dir in
            let junk = dir.appendingPathComponent("junk.bin")
            try Data([1, 2, 3, 4]).write(to: junk)
            let message = Self.runError(["analyze", "--data", junk.path, "--output", dir.appendingPathComponent("run").path])
            #expect(message.contains("no plugin recognises") && message.contains("synthetic-squares"), "\(message)")
        }
    }
}
