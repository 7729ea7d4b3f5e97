import Foundation
import KDCore
import Testing
import KDPluginTesting
import _TestSupport

private func tempFile(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

@Suite struct PluginTests {
    @Test func syntheticPluginPassesTheSharedConformanceTest() throws {
        let archive = tempFile("squares.txt"), junk = tempFile("junk.bin")
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 6)
        try Data([0x50, 0x4B, 0x03, 0x04, 1, 2, 3]).write(to: URL(fileURLWithPath: junk))
        try PluginConformance.check(SyntheticSquaresPlugin(), archive: archive, notAnArchive: junk)
    }

    @Test func registryFindsByNameAndByContentAndListsKnownNames() throws {
        let registry = PluginRegistry()
        try registry.register(SyntheticSquaresPlugin())
        #expect(throws: PluginError.duplicate("synthetic-squares")) { try registry.register(SyntheticSquaresPlugin()) }
        #expect(try registry.plugin(named: "synthetic-squares").name == "synthetic-squares")
        #expect(throws: PluginError.unknownPlugin("images", known: ["synthetic-squares"])) {
            try registry.plugin(named: "images")
        }
        let archive = tempFile("squares2.txt")
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 2)
        #expect(try registry.recognise(archive).format == "synthetic squares v1")
        let other = tempFile("other.txt")
        try "hello".write(toFile: other, atomically: true, encoding: .utf8)
        #expect(throws: PluginError.unrecognised(path: other, tried: ["synthetic-squares"])) { try registry.recognise(other) }
        #expect(throws: PluginError.unknownFamily("resnet", plugin: "synthetic-squares", known: ["tiny-mlp"])) {
            try SyntheticSquaresPlugin().family("resnet")
        }
    }

    /// The protocol end to end: archive → plugin → samples → model → entropy engine → fg/bg-labelled maps.
    @Test func syntheticSamplesFlowThroughTheEntropyEngine() throws {
        let archive = tempFile("squares3.txt")
        try SyntheticSquaresPlugin.write(to: archive, perSplit: 4)
        let plugin = SyntheticSquaresPlugin()
        let data = try plugin.open(archive, options: ["grid": "4"])
        let model = try plugin.family("tiny-mlp").build(data.sampleShape, data.classNames.count, 1, 3)
        var s = EntropySettings.fast
        s.steps = 30
        let engine = try EntropyEngine(model: model, tap: "relu1", settings: s)
        let samples = try (0..<4).map { try data.sample(.test, $0) }
        let maps = engine.analyse(samples)
        for (sample, result) in zip(samples, maps) {
            let map = try result.get()
            #expect(map.entropies.count == 16 && map.inputID == sample.id)
            #expect(sample.foreground.contains(true) && sample.foreground.contains(false))
        }
    }
}
