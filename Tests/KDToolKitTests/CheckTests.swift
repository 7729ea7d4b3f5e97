import ArgumentParser
import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// `kd-tool check` (Docs/Robustness.md): a good dataset passes, a bad record is listed and fails the check,
/// a damaged checkpoint is refused naming the damage, a good checkpoint lists its tensors.
@Suite(.serialized) struct CheckTests {
    static func inFolder<T>(_ body: (URL) throws -> T) throws -> T {
        Registration.install([SyntheticSquaresPlugin()])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        return try body(dir)
    }

    /// The exit code `kd-tool check ARGS` ends with (0 when `run` returns).
    static func exitCode(_ arguments: [String]) -> Int32 {
        do {
            var command = try KDTool.parseAsRoot(["check"] + arguments)
            try command.run()
            return 0
        } catch {
            return KDTool.exitCode(for: error).rawValue
        }
    }

    @Test func helpScreenIsComplete() {
        let help = KDTool.helpMessage(for: CheckCommand.self)
        #expect(help.contains("USAGE: kd-tool check"))
        #expect(CheckCommand.configuration.abstract.hasSuffix("."))
        #expect(KDTool.helpMessage().contains("check"))
        let words = Set(help.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        #expect(HelpTests.modalityWords.filter { words.contains($0) || words.contains($0 + "s") }.isEmpty)
    }

    @Test func goodDatasetPasses() throws {
        try Self.inFolder { dir in
            let path = dir.appendingPathComponent("squares.txt").path
            try SyntheticSquaresPlugin.write(to: path, perSplit: 6)
            var printed: [String] = []
            let result = try CheckCommand.check(path, emit: { printed.append($0) })
            #expect(result.passed, "\(printed)")
            #expect(result.records == 12)
            #expect(printed.last?.hasPrefix("summary:") == true && printed.last!.contains("no problems"), "\(printed)")
            #expect(printed.contains { $0.contains("train: 6 samples") && $0.contains("units per sample 16") && $0.contains("left 3") }, "\(printed)")
            #expect(printed.contains { $0.contains("classes: 2 (left, right)") }, "\(printed)")
            #expect(Self.exitCode([path]) == 0)
        }
    }

    @Test func badRecordIsListedAndFails() throws {
        try Self.inFolder { dir in
            let path = dir.appendingPathComponent("squares.txt").path
            try SyntheticSquaresPlugin.write(to: path, perSplit: 4)
            var text = try String(contentsOfFile: path, encoding: .utf8)
            text += "test 7 1 1 2\n"   // label 7: the dataset has two classes
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            var printed: [String] = []
            let result = try CheckCommand.check(path, emit: { printed.append($0) })
            #expect(!result.passed && !result.refused)
            #expect(result.problems.count == 1, "\(result.problems)")
            #expect(printed.contains { $0.hasPrefix("problem:") && $0.contains("test sample 4") && $0.contains("label 7 outside 0..<2") }, "\(printed)")
            #expect(printed.last?.contains("1 problem") == true, "\(printed)")
            #expect(Self.exitCode([path]) == 1)
        }
    }

    static func checkpoint() -> [UInt8] {
        Safetensors.encode([("fc1.weight", Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])),
                            ("fc1.bias", Tensor(shape: [3], values: [0, 0.5, -1]))],
                           metadata: ["kd-tool.epoch": "2"])
    }

    @Test func goodCheckpointListsItsTensors() throws {
        try Self.inFolder { dir in
            let path = dir.appendingPathComponent("epoch-0002.safetensors").path
            try Data(Self.checkpoint()).write(to: URL(fileURLWithPath: path))
            var printed: [String] = []
            let result = try CheckCommand.check(path, emit: { printed.append($0) })
            #expect(result.passed && result.format == "safetensors checkpoint", "\(printed)")
            #expect(printed.contains("  fc1.weight: F32 [3, 2]"), "\(printed)")
            #expect(printed.contains("  fc1.bias: F32 [3]"), "\(printed)")
            #expect(printed.contains { $0.contains("metadata: kd-tool.epoch") }, "\(printed)")
            // Recognised by content too, whatever its name.
            let renamed = dir.appendingPathComponent("weights.bin").path
            try FileManager.default.copyItem(atPath: path, toPath: renamed)
            #expect(try CheckCommand.check(renamed).format == "safetensors checkpoint")
            #expect(Self.exitCode([path]) == 0)
        }
    }

    @Test func truncatedCheckpointIsRefused() throws {
        try Self.inFolder { dir in
            let path = dir.appendingPathComponent("epoch-0002.safetensors").path
            try Data(Self.checkpoint().dropLast(5)).write(to: URL(fileURLWithPath: path))
            var printed: [String] = []
            let result = try CheckCommand.check(path, emit: { printed.append($0) })
            #expect(result.refused)
            #expect(printed.contains { $0.hasPrefix("problem:") && $0.contains("truncated") && $0.contains("fc1.weight") }, "\(printed)")
            #expect(printed.last?.contains("REFUSED") == true)
            #expect(Self.exitCode([path]) == 1)
        }
    }

    @Test func nonFiniteWeightsAreProblems() throws {
        try Self.inFolder { dir in
            let path = dir.appendingPathComponent("nan.safetensors").path
            let bytes = Safetensors.encode([("w", Tensor(shape: [2], values: [1, .nan]))])
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let result = try CheckCommand.check(path)
            #expect(!result.passed && result.problems.first?.contains("1 of 2 values are NaN") == true, "\(result.problems)")
        }
    }

    @Test func unrecognisedFileIsDiagnosed() throws {
        try Self.inFolder { dir in
            let junk = dir.appendingPathComponent("download.tgz")
            try Data([0x1F, 0x8B, 0x08, 0x00, 1, 2, 3]).write(to: junk)   // a gzip header cut short
            var printed: [String] = []
            let result = try CheckCommand.check(junk.path, emit: { printed.append($0) })
            #expect(result.refused)
            #expect(printed.contains { $0.hasPrefix("problem:") && $0.contains(junk.path) }, "\(printed)")
            #expect(Self.exitCode([junk.path]) == 1)
            #expect(try CheckCommand.check(dir.appendingPathComponent("missing").path).refused)
            let folder = try CheckCommand.check(dir.path)
            #expect(folder.refused && folder.problems.first?.contains("a folder holding download.tgz") == true, "\(folder.problems)")
        }
    }

    @Test func namedPluginOpensTheFile() throws {
        try Self.inFolder { dir in
            let path = dir.appendingPathComponent("squares.txt").path
            try SyntheticSquaresPlugin.write(to: path, perSplit: 2)
            #expect(try CheckCommand.check(path, plugin: "synthetic-squares", options: ["grid": "2"]).passed)
            let bad = try CheckCommand.check(path, plugin: "synthetic-squares", options: ["colour": "red"])
            #expect(bad.refused && bad.problems.first?.contains("no option 'colour'") == true, "\(bad.problems)")
        }
    }
}
