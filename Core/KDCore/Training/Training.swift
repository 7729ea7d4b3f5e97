import Foundation

// Training loops shared by every plugin: scratch training, the paper's two-stage feature
// distillation, and Hinton's soft-target distillation, with per-step weight-path logging,
// scheduled checkpoints and exact resumption (Method.md §4, §6).

/// Runs training epochs of shuffled mini-batches, logging every step's weight change and writing
/// checkpoints per the schedule.
///
/// Files in a stage's folder:
/// - `epoch-NNNN.safetensors`: the model after epoch N (0 = initialisation), loadable by ``Checkpoint``;
/// - `epoch-NNNN.state.safetensors`: the optimiser state (and adapter) at the same point;
/// - `resume.safetensors`: model and state after the last completed epoch, rewritten every epoch;
/// - `weight_path.csv` (`epoch,step,parameter,delta_norm`): ‖Δw‖₂ of every trained parameter tensor at
///   every optimiser step (steps count from 1 within an epoch), the `path` distance of Method.md §4;
/// - `steps.csv` (`epoch,step,loss,learning_rate`).
///
/// Shuffles and dropout masks depend only on the seed and the epoch, so a run resumed from its folder
/// ends with the same weights, bit for bit, as one that was never interrupted.
public final class Trainer {
    public let model: Model
    public let config: TrainingConfig
    /// Called after every epoch (on the training thread).
    public var progress: ((EpochReport) -> Void)?
    /// Asked after every epoch, once its files are written; returning true ends the run with
    /// ``TrainingError/stopped(stage:epoch:)`` (e.g. after Ctrl-C). Rerunning with the same settings resumes.
    public var shouldStop: (() -> Bool)?
    /// Random transformations of every training batch (e.g. a point cloud's rotation about its up axis),
    /// applied after the batch is assembled and before the objective; nil for none. Its generator depends
    /// only on the seed, stage, epoch and step, so resumed runs stay bit-identical. Record its description
    /// with the run's settings.
    public var augmentation: BatchAugmentation?

    public init(model: Model, config: TrainingConfig) {
        self.model = model
        self.config = config
    }

    /// Trains `model` in `mode` on `data`, resuming from `config.outputFolder` when it holds an
    /// interrupted run with the same settings.
    @discardableResult
    public func run(_ mode: TrainingMode, data: TrainingData) throws -> [StageSummary] {
        try config.validate()
        guard data.count > 0 else { throw TrainingError.emptyData }
        let root = URL(fileURLWithPath: config.outputFolder, isDirectory: true)
        let last = model.layerNames.count - 1
        let all = model.namedParameters
        switch mode {
        case .scratch:
            let stage = Stage(name: nil, index: 0, folder: root, epochs: config.epochs, trained: all,
                              record: ModeRecord(kind: "scratch"), objective: scratchObjective(from: 0))
            return [try runStage(stage, data: data)]

        case let .hinton(teacher, temperature, beta):
            guard data.spans([0]) == nil else {
                throw TrainingError.invalidConfig(["Hinton KD is defined for class labels; span targets (question answering) train by scratch or feature distillation"])
            }
            guard temperature > 0, beta >= 0, beta <= 1 else {
                throw TrainingError.invalidConfig(["Hinton KD needs T > 0 and β in [0, 1], got T = \(temperature), β = \(beta)"])
            }
            try checkTeacher(teacher, studentShape: model.outputShape(batch: 1), teacherShape: teacher.outputShape(batch: 1))
            var record = ModeRecord(kind: "hinton")
            record.teacher = teacher.name
            record.teacherFingerprint = fingerprint(teacher)
            record.temperature = Double(temperature)
            record.beta = Double(beta)
            let stage = Stage(name: nil, index: 0, folder: root, epochs: config.epochs, trained: all, record: record,
                              objective: hintonObjective(teacher: teacher, temperature: temperature, beta: beta))
            return [try runStage(stage, data: data)]

        case let .featureDistillation(teacher, teacherTapName, studentTapName, adapter):
            let teacherTap = try teacher.layerIndex(teacherTapName)
            let studentTap = try model.layerIndex(studentTapName)
            guard studentTap < last else { throw TrainingError.nothingAboveTap(studentTapName) }
            let studentFeature = model.outputShape(batch: 1, through: studentTap)
            let adapted = adapter.map { $0.outputShape(for: studentFeature) } ?? studentFeature
            let teacherFeature = teacher.outputShape(batch: 1, through: teacherTap)
            try checkTeacher(teacher, studentShape: nil, teacherShape: nil)
            guard adapted == teacherFeature else {
                throw TrainingError.tapShapeMismatch(student: Array(adapted.dropFirst()), teacher: Array(teacherFeature.dropFirst()))
            }
            var record = ModeRecord(kind: "feature-distillation")
            record.teacher = teacher.name
            record.teacherFingerprint = fingerprint(teacher)
            record.teacherTap = teacherTapName
            record.studentTap = studentTapName
            record.adapter = adapter?.kind
            let adapterParameters = adapter.map { Trainer.namedParameters(of: $0, prefix: "adapter.") } ?? []
            let lower = model.namedParameters(through: studentTap)
            let lowerNames = Set(lower.map(\.0))
            let stage1 = Stage(name: "stage1", index: 1, folder: root.appendingPathComponent("stage1", isDirectory: true),
                               epochs: config.epochs, trained: lower + adapterParameters, record: record,
                               objective: featureObjective(teacher: teacher, teacherTap: teacherTap,
                                                           studentTap: studentTap, adapter: adapter),
                               adapter: adapter)
            let first = try runStage(stage1, data: data)
            let wasFrozen = lower.map { $0.1.frozen }
            model.setFrozen(true, through: studentTap)
            defer { for ((_, p), f) in zip(lower, wasFrozen) { p.frozen = f } }
            let stage2 = Stage(name: "stage2", index: 2, folder: root.appendingPathComponent("stage2", isDirectory: true),
                               epochs: config.stage2Epochs ?? config.epochs,
                               trained: all.filter { !lowerNames.contains($0.0) }, record: record,
                               objective: scratchObjective(from: studentTap + 1))
            return [first, try runStage(stage2, data: data)]

        case let .fitNets(teacher, teacherLayer, studentLayer, adapter, temperature, beta):
            guard temperature > 0, beta >= 0, beta <= 1 else {
                throw TrainingError.invalidConfig(["FitNets' KD stage needs T > 0 and β in [0, 1], got T = \(temperature), β = \(beta)"])
            }
            let teacherTap = try teacher.layerIndex(teacherLayer)
            let studentTap = try model.layerIndex(studentLayer)
            try checkTeacher(teacher, studentShape: model.outputShape(batch: 1), teacherShape: teacher.outputShape(batch: 1))
            let studentFeature = model.outputShape(batch: 1, through: studentTap)
            let adapted = adapter.map { $0.outputShape(for: studentFeature) } ?? studentFeature
            let teacherFeature = teacher.outputShape(batch: 1, through: teacherTap)
            guard adapted == teacherFeature else {
                throw TrainingError.tapShapeMismatch(student: Array(adapted.dropFirst()), teacher: Array(teacherFeature.dropFirst()))
            }
            var record = ModeRecord(kind: "fitnets")
            record.teacher = teacher.name
            record.teacherFingerprint = fingerprint(teacher)
            record.teacherTap = teacherLayer
            record.studentTap = studentLayer
            record.adapter = adapter?.kind
            record.temperature = Double(temperature)
            record.beta = Double(beta)
            let adapterParameters = adapter.map { Trainer.namedParameters(of: $0, prefix: "adapter.") } ?? []
            let stage1 = Stage(name: "stage1", index: 1, folder: root.appendingPathComponent("stage1", isDirectory: true),
                               epochs: config.epochs, trained: model.namedParameters(through: studentTap) + adapterParameters,
                               record: record,
                               objective: featureObjective(teacher: teacher, teacherTap: teacherTap, studentTap: studentTap, adapter: adapter),
                               adapter: adapter)
            let first = try runStage(stage1, data: data)
            let stage2 = Stage(name: "stage2", index: 2, folder: root.appendingPathComponent("stage2", isDirectory: true),
                               epochs: config.stage2Epochs ?? config.epochs, trained: all, record: record,
                               objective: hintonObjective(teacher: teacher, temperature: temperature, beta: beta))
            return [first, try runStage(stage2, data: data)]

        case let .attentionTransfer(teacher, pairs, beta):
            guard beta >= 0, beta.isFinite, !pairs.isEmpty else {
                throw TrainingError.invalidConfig(["attention transfer needs β ≥ 0 and at least one layer pair, got β = \(beta), \(pairs.count) pairs"])
            }
            try checkTeacher(teacher, studentShape: nil, teacherShape: nil)
            let problems = MethodLayers.problems(.attentionTransfer(pairs: pairs, beta: Double(beta)), student: model,
                                                 teacher: teacher, tap: pairs[0].student)
            guard problems.isEmpty else { throw TrainingError.invalidConfig(problems) }
            let indices = try pairs.map { (s: try model.layerIndex($0.student), t: try teacher.layerIndex($0.teacher)) }
            var record = ModeRecord(kind: "attention-transfer")
            record.teacher = teacher.name
            record.teacherFingerprint = fingerprint(teacher)
            record.pairs = pairs.map { "\($0.student)->\($0.teacher)" }
            record.beta = Double(beta)
            let stage = Stage(name: nil, index: 0, folder: root, epochs: config.epochs, trained: all, record: record,
                              objective: attentionObjective(teacher: teacher, pairs: indices, beta: beta))
            return [try runStage(stage, data: data)]

        case let .flowOfSolution(teacher, pairs):
            try checkTeacher(teacher, studentShape: model.outputShape(batch: 1), teacherShape: teacher.outputShape(batch: 1))
            guard !pairs.isEmpty else { throw TrainingError.invalidConfig(["FSP needs at least one layer pair"]) }
            let problems = MethodLayers.problems(.flowOfSolution(pairs: pairs), student: model, teacher: teacher, tap: pairs[0].from)
            guard problems.isEmpty else { throw TrainingError.invalidConfig(problems) }
            let s = try pairs.map { (try model.layerIndex($0.from), try model.layerIndex($0.to)) }
            let t = try pairs.map { (try teacher.layerIndex($0.from), try teacher.layerIndex($0.to)) }
            let top = s.map { max($0.0, $0.1) }.max()!
            var record = ModeRecord(kind: "fsp")
            record.teacher = teacher.name
            record.teacherFingerprint = fingerprint(teacher)
            record.pairs = pairs.map { "\($0.from)->\($0.to)" }
            let stage1 = Stage(name: "stage1", index: 1, folder: root.appendingPathComponent("stage1", isDirectory: true),
                               epochs: config.epochs, trained: model.namedParameters(through: top), record: record,
                               objective: flowObjective(teacher: teacher, student: s, teacherPairs: t))
            let first = try runStage(stage1, data: data)
            let stage2 = Stage(name: "stage2", index: 2, folder: root.appendingPathComponent("stage2", isDirectory: true),
                               epochs: config.stage2Epochs ?? config.epochs, trained: all, record: record,
                               objective: scratchObjective(from: 0))
            return [first, try runStage(stage2, data: data)]

        case let .mutualLearning(peers):
            guard !peers.isEmpty else { throw TrainingError.invalidConfig(["mutual learning needs at least one peer"]) }
            for p in peers { try checkTeacher(p, studentShape: model.outputShape(batch: 1), teacherShape: p.outputShape(batch: 1)) }
            let cohort = Cohort(peers)
            var record = ModeRecord(kind: "mutual-learning")
            record.peers = peers.count
            let contexts = peers.map { $0.makeContext() }
            let stage = Stage(name: nil, index: 0, folder: root, epochs: config.epochs,
                              trained: all + Trainer.namedParameters(of: cohort, prefix: ""), record: record,
                              objective: mutualObjective(peers: peers, contexts: contexts), adapter: cohort,
                              extraContexts: contexts)
            return [try runStage(stage, data: data)]

        case let .fineTuning(source):
            var record = ModeRecord(kind: "fine-tune")
            record.source = source
            let stage = Stage(name: nil, index: 0, folder: root, epochs: config.epochs, trained: all,
                              record: record, objective: scratchObjective(from: 0))
            return [try runStage(stage, data: data)]
        }
    }

    /// The model's root context, created on first use and reused by every step (its buffers stay warm).
    lazy var context: LayerContext = model.makeContext()
    /// Real lengths of the current batch's padded samples (nil: none padded); objectives hand them to
    /// every network they run (teacher, adapter) through ``LayerContext/validLengths``.
    var batchLengths: [Int]? = nil
    /// Span targets of the current batch (question answering), nil for class labels.
    var batchSpans: [(start: Int, end: Int)]? = nil
    let gradient = Tensor(shape: [0])

    // MARK: - The epoch loop

    private func runStage(_ stage: Stage, data: TrainingData) throws -> StageSummary {
        let optimizer = config.optimizer.make()
        let start = try prepare(stage, optimizer: optimizer)
        var summary = StageSummary(stage: stage.name, folder: stage.folder, resumedAfter: start, epochs: stage.epochs)
        guard start < stage.epochs else { return summary }

        let batchSize = config.batchSize, n = data.count
        let classes = model.outputShape(batch: 1).last ?? 1
        // Training-mode BatchNorm needs two or more values per channel: with a batch of one sample a
        // BatchNorm over (B, C) has none to normalise by. Such a model cannot train with batch size 1, and
        // a last batch of one sample joins the batch before it (runs that end with a larger last batch are
        // unchanged; a BatchNorm model stopped on exactly these before).
        let hasBatchNorm = model.body.layers.contains { $0.1 is BatchNorm }
        if hasBatchNorm && (batchSize == 1 || n == 1) {
            throw TrainingError.invalidConfig(["\(stage.name.map { "training stage \($0)" } ?? "training"): batch size \(batchSize) with \(n) training sample\(n == 1 ? "" : "s") gives batches of one sample, which its BatchNorm layers cannot train on; use a batch size of at least 2 and at least 2 training samples"])
        }
        let mergeLast = hasBatchNorm && n > batchSize && n % batchSize == 1
        let stepsPerEpoch = (n + batchSize - 1) / batchSize - (mergeLast ? 1 : 0)
        let x = Tensor(shape: [min(batchSize, n)] + model.inputShape)
        var labels: [Int] = []
        var order = Array(0..<n)
        let trained = stage.trained

        for epoch in (start + 1)...stage.epochs {
            let began = Date()
            for i in 0..<n { order[i] = i }   // each epoch's order depends on (seed, epoch) only
            shuffle(&order, seed: config.seed, stream: UInt64(stage.index) << 32 | UInt64(epoch))
            reseed(context, epoch: epoch, stage: stage.index, counter: 0)
            for (k, c) in stage.extraContexts.enumerated() { reseed(c, epoch: epoch, stage: 16 + k, counter: 0) }
            var pathLog = "", stepLog = ""
            var lossSum = 0.0
            var lr: Float = 0
            for step in 0..<stepsPerEpoch {
                let end = step == stepsPerEpoch - 1 ? n : min((step + 1) * batchSize, n)
                let indices = Array(order[(step * batchSize)..<end])
                x.resize([indices.count] + model.inputShape)
                if labels.count != indices.count { labels = [Int](repeating: 0, count: indices.count) }
                data.batch(indices, into: x, labels: &labels)
                batchLengths = data.lengths(indices)
                context.validLengths = batchLengths
                if let augmentation {
                    var g = SeededGenerator(seed: config.seed ^ 0xA5A5_0000_A06D,
                                            stream: UInt64(stage.index) << 48 | UInt64(epoch) << 24 | UInt64(step))
                    augmentation.apply(x, batchLengths, &g)
                }
                batchSpans = data.spans(indices)
                for (k, label) in labels.enumerated() where batchSpans == nil && (label < 0 || label >= classes) {
                    throw TrainingError.labelOutOfRange(sample: indices[k], label: label, classes: classes)
                }
                for (_, p) in trained { p.grad.zero() }
                let loss = stage.objective(x, labels)
                guard loss.isFinite else { throw TrainingError.diverged(epoch: epoch, step: step + 1, loss: loss) }
                lr = config.learningRate.learningRate(epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch,
                                                      totalEpochs: stage.epochs)
                let norms = optimizer.step(trained, learningRate: lr)
                lossSum += loss
                stepLog += "\(epoch),\(step + 1),\(loss),\(lr)\n"
                for (k, (name, _)) in trained.enumerated() { pathLog += "\(epoch),\(step + 1),\(name),\(norms[k])\n" }
            }
            let meanLoss = lossSum / Double(stepsPerEpoch)
            try appendLogs(stage, weightPath: pathLog, steps: stepLog)
            let writes = config.checkpoints.writes(after: epoch, total: stage.epochs)
            try saveEpoch(stage, epoch: epoch, optimizer: optimizer, meanLoss: meanLoss, checkpoint: writes)
            summary.finalLoss = meanLoss
            progress?(EpochReport(stage: stage.name, epoch: epoch, epochs: stage.epochs, meanLoss: meanLoss,
                                  seconds: Date().timeIntervalSince(began), learningRate: lr, checkpointWritten: writes))
            if shouldStop?() == true { throw TrainingError.stopped(stage: stage.name, epoch: epoch) }
        }
        return summary
    }

    /// Fisher–Yates with the project's generator, so the order is the same on every platform and
    /// Swift version (the standard library's shuffle algorithm is not guaranteed stable).
    private func shuffle(_ order: inout [Int], seed: UInt64, stream: UInt64) {
        var g = SeededGenerator(seed: seed, stream: stream)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(g.next() % UInt64(i + 1)))
        }
    }

    /// Gives every context in the tree its own dropout stream for this epoch.
    @discardableResult
    private func reseed(_ c: LayerContext, epoch: Int, stage: Int, counter: Int) -> Int {
        c.generator = SeededGenerator(seed: config.seed ^ 0xD20F_A5E7_0B1C_3A49,
                                      stream: UInt64(stage) << 56 | UInt64(epoch) << 24 | UInt64(counter))
        var next = counter + 1
        for child in c.children { next = reseed(child, epoch: epoch, stage: stage, counter: next) }
        return next
    }

    func setTraining(_ c: LayerContext, _ training: Bool) {
        c.training = training
        c.children.forEach { setTraining($0, training) }
    }

    /// Parameters of a stand-alone layer (an adapter) with dotted names.
    static func namedParameters(of layer: Layer, prefix: String) -> [(String, Parameter)] {
        var out = layer.parameters.map { (prefix + $0.name, $0) }
        for (n, child) in layer.children { out += namedParameters(of: child, prefix: prefix + n + ".") }
        return out
    }

    static func namedBuffers(of layer: Layer, prefix: String) -> [(String, Tensor)] {
        var out = layer.buffers.map { (prefix + $0.0, $0.1) }
        for (n, child) in layer.children { out += namedBuffers(of: child, prefix: prefix + n + ".") }
        return out
    }

    /// FNV-1a (64-bit) over the bit patterns of every parameter and buffer, as hex.
    func fingerprint(_ m: Model) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for t in m.namedParameters.map(\.1.value) + m.namedBuffers.map(\.1) {
            for i in 0..<t.count {
                h = (h ^ UInt64(t.data[i].bitPattern)) &* 0x0000_0100_0000_01B3
            }
        }
        return String(h, radix: 16)
    }
}

/// The peers of a mutual-learning run as one layer tree, so their weights and buffers travel in the state
/// files (`adapter/peerN.…`) and a run resumes exactly. Never run as a layer.
final class Cohort: Layer {
    let kind = "cohort"
    let peers: [Model]
    init(_ peers: [Model]) { self.peers = peers }
    var children: [(String, Layer)] { peers.enumerated().map { ("peer\($0.offset + 1)", $0.element.body as Layer) } }
    func outputShape(for inputShape: [Int]) -> [Int] { inputShape }
    func forward(_ x: Tensor, _ context: LayerContext) -> Tensor { fatalError("a cohort is not run as a layer") }
    func backward(_ dy: Tensor, _ context: LayerContext) -> Tensor { fatalError("a cohort is not run as a layer") }
}
