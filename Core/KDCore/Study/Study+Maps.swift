import Foundation

// The study's analysis step: the entropy map of every analysed input at every analysed checkpoint
// (Method.md §2), computed once and kept in the results store.

extension Study {
    /// One entropy map of the study: a network's checkpoint and one analysed input. The unit of work of a
    /// sharded `maps` stage.
    public struct MapItem: Hashable, Sendable, CustomStringConvertible {
        public var network: String
        public var epoch: Int
        public var inputID: String
        public var description: String { "\(network) epoch \(epoch) \(inputID)" }
    }

    /// An analysed network and where its checkpoints are.
    struct AnalysedNetwork {
        var name: String
        var width: Double
        var epochs: [Int]
        /// The checkpoint file of each analysed epoch.
        var files: [Int: URL]
        /// The folder whose checkpoints (and `weight_path.csv`) give the weight trajectory; nil when there is
        /// none (a network brought as one file, the teacher).
        var trajectoryFolder: URL?
        /// Weights to load through the family's name mapping instead of a checkpoint (a teacher given as trained).
        var pretrained: String? = nil
        /// The student's method and analysed stage; nil for the baseline and the teacher.
        var method: DistillationMethod? = nil
        var stage: String? = nil
        var brought: Bool = false
        var isTeacher: Bool { name == "teacher" }
    }

    /// The analysed networks, in the fixed order of the analysis: every student (methods in order), the
    /// baseline, then the teacher when it is analysed. Needs training done (the checkpoints on disk).
    func analysedNetworks() throws -> [AnalysedNetwork] {
        let c = config, brought = try broughtNetworks()
        func fromFolder(_ name: String, _ f: URL) throws -> AnalysedNetwork {
            let epochs: [Int]
            do { epochs = try Self.checkpointEpochs(in: f) } catch { throw StudyError.notTrained(network: name, folder: f.path) }
            return AnalysedNetwork(name: name, width: c.studentWidth, epochs: epochs,
                                   files: Dictionary(uniqueKeysWithValues: epochs.map { ($0, Trainer.checkpointURL(in: f, epoch: $0)) }),
                                   trajectoryFolder: f)
        }
        func fromBrought(_ b: BroughtNetwork) -> AnalysedNetwork {
            AnalysedNetwork(name: b.name, width: c.studentWidth, epochs: b.epochs,
                            files: Dictionary(uniqueKeysWithValues: b.epochs.map { ($0, b.file(epoch: $0)) }),
                            trajectoryFolder: b.folder, brought: true)
        }
        var out: [AnalysedNetwork] = []
        for m in c.methods {
            let name = Self.networkName(m, config: c)
            let stage = try analysedStage(ofNetwork: name)
            var n = try brought[name].map(fromBrought)
                ?? fromFolder(name, folder.appendingPathComponent(name + (stage.map { "/" + $0 } ?? "")))
            n.method = m
            n.stage = stage
            out.append(n)
        }
        out.append(try brought["baseline"].map(fromBrought) ?? fromFolder("baseline", folder.appendingPathComponent("baseline")))
        if c.analyseTeacher {
            switch c.teacherSource {
            case let .trained(path):
                out.append(AnalysedNetwork(name: "teacher", width: c.teacherWidth, epochs: [0], files: [0: URL(fileURLWithPath: path)],
                                           trajectoryFolder: nil, pretrained: path))
            case .scratch, .fineTuned:
                guard !studentsTrainedHere.isEmpty else { break }   // not trained: no student needed it
                let f = folder.appendingPathComponent("teacher")
                guard let last = Self.checkpointEpochsIfAny(in: f).last else { throw StudyError.notTrained(network: "teacher", folder: f.path) }
                out.append(AnalysedNetwork(name: "teacher", width: c.teacherWidth, epochs: [last],
                                           files: [last: Trainer.checkpointURL(in: f, epoch: last)], trajectoryFolder: nil))
            }
        }
        return out
    }

    /// Every map of the study in a fixed order: networks as in ``analysedNetworks()``, checkpoints ascending,
    /// inputs in the analysed order. Needs training done; opens no store.
    public func mapItems() throws -> [MapItem] {
        let inputs = try prepareData().inputs
        return try analysedNetworks().flatMap { n in
            n.epochs.flatMap { e in inputs.map { MapItem(network: n.name, epoch: e, inputID: $0.id) } }
        }
    }

    /// The maps of every analysed network, read from the store, for the metrics.
    public struct AnalysedMaps {
        var networks: [AnalysedNetwork]
        var analysedEpochs: [String: [Int]] = [:]
        var finalMaps: [String: [String: [Float]]] = [:]
        /// Each network's maps (ignored units removed) of the inputs that did not fail.
        var keptMaps: [String: [EntropyMap]] = [:]
        var flagged: [String: Int] = [:]
    }

    /// Computes the maps of `items` that are not in the store yet and stores them; reads nothing back.
    /// A sharded `maps` stage calls it with its own items.
    public func storeMaps(_ items: [MapItem]) throws {
        let wanted = Set(items)
        mapsDone = 0
        for net in try analysedNetworks() {
            for epoch in net.epochs {
                let inputs = try prepareData().inputs.filter { wanted.contains(MapItem(network: net.name, epoch: epoch, inputID: $0.id)) }
                if inputs.isEmpty { continue }
                _ = try analyse(net, epoch: epoch, inputs: inputs, total: wanted.count, read: false)
            }
        }
    }

    /// Step 7: the maps of every analysed input at every analysed checkpoint, from the store when present,
    /// else computed and stored at once.
    public func analyseMaps() throws -> AnalysedMaps {
        try ready()
        let inputs = try prepareData().inputs
        let networks = try analysedNetworks()
        var out = AnalysedMaps(networks: networks)
        let total = networks.reduce(0) { $0 + $1.epochs.count } * inputs.count
        mapsDone = 0
        for net in networks {
            out.analysedEpochs[net.name] = net.epochs
            var maps: [EntropyMap] = []
            try timed("analyse-\(net.name)") {
                for epoch in net.epochs {
                    let (produced, flagged) = try analyse(net, epoch: epoch, inputs: inputs, total: total, read: true)
                    if flagged > 0 { out.flagged[net.name, default: 0] += flagged }
                    maps += produced.map(Self.analysedUnits)
                    if epoch == net.epochs.last {
                        out.finalMaps[net.name] = Dictionary(uniqueKeysWithValues: produced.map { ($0.inputID, $0.entropies) })
                    }
                }
            }
            if net.isTeacher { continue }
            let usable = Set(inputs.map(\.id)).subtracting(failedInputs)
            out.keptMaps[net.name] = maps.filter { usable.contains($0.inputID) }
            guard !out.keptMaps[net.name]!.isEmpty else { throw StudyError.noUsableInputs("every map of \(net.name) failed") }
        }
        return out
    }

    /// Entropy maps of `inputs` for one network and checkpoint: computed (in parallel) and stored when not
    /// in the store; when `read`, all of them read back from the store, with the number of flagged ones.
    private func analyse(_ net: AnalysedNetwork, epoch: Int, inputs: [Sample], total: Int, read: Bool) throws -> ([EntropyMap], Int) {
        let store = try ready()
        let settingsHash = Self.settingsHash(config: config, datasetSettings: data.settings)
        func key(_ s: Sample) -> EntropyMapKey {
            EntropyMapKey(run: runName, network: net.name, tap: config.tap, settingsHash: settingsHash, epoch: epoch, inputID: s.id)
        }
        func done() {
            mapsDone += 1
            progress?(StudyProgress(stage: .maps, item: "\(net.name) epoch \(epoch)", done: mapsDone, total: total))
        }
        var todo: [Sample] = []
        for s in inputs {
            if try store.hasMap(key(s)) { done() } else { todo.append(s) }
        }
        let t0 = Date()
        if !todo.isEmpty {
            let model = try network(width: net.width, seed: net.isTeacher ? config.seed &+ 1 : config.seed)
            if let p = net.pretrained { try loadPretrained(model, from: p, who: net.name) } else {
                _ = try Checkpoint.load(into: model, from: net.files[epoch]!)
            }
            let engine = try EntropyEngine(model: model, tap: config.tap, settings: config.entropy, analysedInput: family.analysedInput)
            // Single-threaded BLAS for every input, however many are computed together: the engine would let
            // OpenBLAS use every core for a lone input, which rounds differently. So a map is the same bits
            // whether it is computed with the others, alone on resuming, or by any shard of a sharded run.
            let blasThreads = BLAS.threads
            BLAS.threads = 1
            defer { BLAS.threads = blasThreads }
            let results = engine.analyse(todo)
            var rows: [StoredEntropyMap] = []
            for (s, r) in zip(todo, results) {
                switch r {
                case let .success(m):
                    rows.append(StoredEntropyMap(key: key(s), entropies: m.entropies, foreground: s.foreground,
                                                 featureVariance: m.sigmaF2, finalLoss: m.finalLoss, alpha: Double(m.alphaUsed),
                                                 chosenStep: m.chosenStep, meanEntropy: m.meanEntropy, lossFlattened: m.lossFlattened,
                                                 targetReached: config.entropy.pinning == nil ? nil : m.pinningReached))
                case let .failure(e):
                    failedMaps.append("\(s.id) \(net.name) epoch \(epoch): \(e)")
                    failedInputs.insert(s.id)
                    log("  could not analyse \(s.id) (\(net.name), epoch \(epoch)): \(e)")
                }
            }
            try store.putMaps(rows)
            for _ in rows { done() }
        }
        log(String(format: "  %@ epoch %d: %d maps (%d computed in %.1f s, %d from the store)", net.name, epoch,
                   inputs.count, todo.count, Date().timeIntervalSince(t0), inputs.count - todo.count))
        guard read else { return ([], 0) }
        var out: [EntropyMap] = [], flagged = 0
        for s in inputs {
            if let m = try store.map(key(s)) {
                out.append(EntropyMap(inputID: s.id, epoch: epoch, entropies: m.entropies, roles: s.roles,
                                      lossFlattened: m.lossFlattened, targetReached: m.targetReached))
                // Neither flattened nor reached the pinning target (Method.md §2 "Convergence"); counted from the
                // stored record, so a map computed earlier (or by another shard) counts the same.
                if !m.lossFlattened && !(m.targetReached ?? false) { flagged += 1 }
            }
        }
        return (out, flagged)
    }

    /// The units the metrics use: ignored units (padding, special tokens) removed from the map, so they take
    /// no part in H̄, N_fg, N_bg or λ (Docs/Method.md §3).
    static func analysedUnits(_ m: EntropyMap) -> EntropyMap {
        guard let roles = m.roles, roles.contains(.ignored) else { return m }
        var h: [Float] = [], r: [UnitRole] = []
        for (e, role) in zip(m.entropies, roles) where role != .ignored { h.append(e); r.append(role) }
        return EntropyMap(inputID: m.inputID, epoch: m.epoch, entropies: h, roles: r,
                          lossFlattened: m.lossFlattened, targetReached: m.targetReached)
    }
}
