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
                #expect(s.roles.count == s.units.unitCount, "\(s.id): \(s.roles.count) roles for \(s.units.unitCount) units", sourceLocation: loc)
                #expect(s.roles.contains { $0 != .ignored }, "\(s.id): every unit is ignored", sourceLocation: loc)
                #expect(s.provenance == nil || s.provenance!.count == s.units.unitCount, "\(s.id): provenance per unit", sourceLocation: loc)
                if let length = s.length {
                    #expect(length >= 1 && length <= (data.sampleShape.first ?? 0), "\(s.id): length \(length) outside 1…\(data.sampleShape.first ?? 0)", sourceLocation: loc)
                }
                switch (data.task, s.target) {
                case let (.classification(classes), .label(l)):
                    #expect(classes == data.classNames.count && (0..<classes).contains(l), "\(s.id): label \(l) out of range", sourceLocation: loc)
                case let (.span, .span(start, end)):
                    let limit = s.length ?? data.sampleShape.first ?? 0
                    #expect(start >= 0 && start <= end && end < limit, "\(s.id): span \(start)…\(end) outside 0..<\(limit)", sourceLocation: loc)
                default:
                    Issue.record("\(s.id): target \(s.target) does not fit the task \(data.task)", sourceLocation: loc)
                }
                #expect(s.input.buffer.allSatisfy { $0.isFinite }, "\(s.id): non-finite input", sourceLocation: loc)
                let again = try data.sample(split, i)
                #expect(again.id == s.id && again.input.array == s.input.array && again.roles == s.roles && again.target == s.target,
                        "\(s.id): sample() is not deterministic", sourceLocation: loc)
            }
            #expect(throws: (any Error).self, "sample(\(split), count) must throw", sourceLocation: loc) {
                _ = try data.sample(split, n)
            }
        }
        guard let sample = first else { return }
        for family in plugin.families {
            // A family may refuse a dataset it cannot serve (a pretrained layout needs its own vocabulary), with
            // a typed error; the plugin's default family must serve the dataset.
            let model: Model
            do {
                model = try family.make(ModelRequest(inputShape: data.sampleShape, task: data.task, width: 1, seed: 1,
                                                     resources: data.modelResources))
            } catch {
                if family.name == plugin.defaults.family {
                    Issue.record("the default family \(family.name) cannot be built for this dataset: \(error)", sourceLocation: loc)
                }
                continue
            }
            #expect(model.inputShape == data.sampleShape, sourceLocation: loc)
            for tap in family.taps {
                #expect(model.layerNames.contains(tap), "\(family.name): tap \(tap) missing", sourceLocation: loc)
            }
            if let input = family.analysedInput {
                let i = model.layerNames.firstIndex(of: input)
                #expect(i != nil, "\(family.name): analysed input \(input) is not a layer", sourceLocation: loc)
                for tap in family.taps {
                    #expect((model.layerNames.firstIndex(of: tap) ?? -1) > (i ?? Int.max), "\(family.name): tap \(tap) is not above \(input)", sourceLocation: loc)
                }
            }
            let x = Tensor(shape: [1] + data.sampleShape)
            x.data.update(from: sample.input.data, count: sample.input.count)
            let context = model.makeContext()
            context.validLengths = sample.length.map { [$0] }
            let y = model.forward(x, context)
            let expected: [Int]
            switch data.task {
            case let .classification(classes): expected = [1, classes]
            case .span: expected = [1, data.sampleShape[0], 2]
            }
            #expect(y.shape == expected, "\(family.name): output \(y.shape), expected \(expected)", sourceLocation: loc)
            #expect(y.buffer.allSatisfy { $0.isFinite }, "\(family.name): non-finite output", sourceLocation: loc)
        }
        // Optional capabilities keep their promises.
        if let painter = plugin as? ResultPictures {
            let h = [Float](repeating: -3, count: sample.units.unitCount)
            let png = try painter.picture(of: sample, from: data, panels: [
                ResultPanel(title: "S", entropies: h, knowledgePoints: sample.roles.map { $0 == .foreground })])
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(plugin.name): the picture is not a PNG", sourceLocation: loc)
        }
        if let builders = plugin as? DatasetBuilding {
            for b in builders.datasetBuilders {
                #expect(!b.name.isEmpty && !b.summary.isEmpty, "\(plugin.name): a dataset builder needs a name and a summary", sourceLocation: loc)
                #expect(throws: PluginError.self, "builder \(b.name) must refuse undeclared options", sourceLocation: loc) {
                    _ = try b.resolve(["no-such-option-xyz": "1"])
                }
            }
        }
        if let runs = plugin as? DefaultRuns {
            for r in runs.defaultRuns {
                #expect(plugin.families.contains { $0.name == r.family }, "default run \(r.name): unknown family \(r.family)", sourceLocation: loc)
                #expect(throws: Never.self, "default run \(r.name): its options must be declared", sourceLocation: loc) {
                    _ = try plugin.resolveOptions(r.options)
                }
            }
        }
    }
}
