import KDCore
import Testing

/// The shared conformance test every modality plugin's test target runs (see `ModalityPlugin`'s rules).
public enum PluginConformance {
    /// Checks `plugin` against an archive it must read (`archive`) and a file it must not recognise.
    public static func check(_ plugin: ModalityPlugin, archive: String, notAnArchive: String,
                             options: [String: String] = [:], samplesPerSplit: Int = 3,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let loc = sourceLocation
        #expect(!plugin.name.isEmpty && !plugin.summary.isEmpty, "plugin needs a name and a summary", sourceLocation: loc)
        #expect(!plugin.families.isEmpty, "\(plugin.name) offers no model family", sourceLocation: loc)
        #expect(plugin.families.contains { $0.name == plugin.defaults.family },
                "default family \(plugin.defaults.family) is not offered", sourceLocation: loc)
        #expect(plugin.defaults.threshold > 0, sourceLocation: loc)
        #expect(plugin.recognise(archive) != nil, "\(plugin.name) does not recognise \(archive)", sourceLocation: loc)
        #expect(plugin.recognise(notAnArchive) == nil, "\(plugin.name) claims \(notAnArchive)", sourceLocation: loc)
        #expect(throws: PluginError.self, "an undeclared option must be rejected", sourceLocation: loc) {
            _ = try plugin.open(archive, options: ["no-such-option-xyz": "1"])
        }
        #expect(throws: (any Error).self, "opening a non-archive must throw", sourceLocation: loc) {
            _ = try plugin.open(notAnArchive, options: options)
        }

        let data = try plugin.open(archive, options: options)
        #expect(!data.classNames.isEmpty, sourceLocation: loc)
        #expect(data.count(.train) + data.count(.test) > 0, "dataset is empty", sourceLocation: loc)
        var first: Sample? = nil
        for split in Split.allCases {
            let n = data.count(split)
            for i in 0..<min(n, samplesPerSplit) {
                let s = try data.sample(split, i)
                first = first ?? s
                #expect(s.input.shape == data.sampleShape, "\(s.id): shape \(s.input.shape) ≠ \(data.sampleShape)", sourceLocation: loc)
                #expect(s.units.variableCount == s.input.count, sourceLocation: loc)
                #expect(s.foreground.count == s.units.unitCount, sourceLocation: loc)
                #expect(s.units.unitSizes.allSatisfy { $0 > 0 }, "\(s.id): a unit has no variables", sourceLocation: loc)
                #expect((0..<data.classNames.count).contains(s.label), "\(s.id): label \(s.label) out of range", sourceLocation: loc)
                #expect(s.input.buffer.allSatisfy { $0.isFinite }, "\(s.id): non-finite input", sourceLocation: loc)
                let again = try data.sample(split, i)
                #expect(again.id == s.id && again.input.array == s.input.array && again.foreground == s.foreground,
                        "\(s.id): sample() is not deterministic", sourceLocation: loc)
            }
            #expect(throws: (any Error).self, "sample(\(split), count) must throw", sourceLocation: loc) {
                _ = try data.sample(split, n)
            }
        }
        guard let sample = first else { return }
        for family in plugin.families {
            let model = try family.build(data.sampleShape, data.classNames.count, 1, 1)
            #expect(model.inputShape == data.sampleShape, sourceLocation: loc)
            for tap in family.taps {
                #expect(model.layerNames.contains(tap), "\(family.name): tap \(tap) missing", sourceLocation: loc)
            }
            let x = Tensor(shape: [1] + data.sampleShape)
            x.data.update(from: sample.input.data, count: sample.input.count)
            let y = model.forward(x, model.makeContext())
            #expect(y.shape == [1, data.classNames.count], "\(family.name): output \(y.shape)", sourceLocation: loc)
            #expect(y.buffer.allSatisfy { $0.isFinite }, "\(family.name): non-finite output", sourceLocation: loc)
        }
    }
}
