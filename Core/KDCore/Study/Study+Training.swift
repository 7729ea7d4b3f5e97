import Foundation

// The study's training steps: the teacher, the baseline and one student per method, each in its own
// folder (Method.md §6, Docs/Methods.md). A finished network resumes as complete (nothing trains again).

extension Study {
    /// A method's student after training (or loaded from its checkpoints).
    public struct TrainedStudent {
        public var method: DistillationMethod
        public var name: String
        public var model: Model
        /// The analysed stage folder (stage1/stage2) of a two-stage method; nil for one-stage methods.
        public var stage: String?
    }

    /// Step 3: trains (or resumes, or loads) the teacher. Nil when no network needs it: every student is
    /// brought trained from elsewhere (``StudyConfig/trainedWeights``) and the teacher is not itself given
    /// as trained weights.
    @discardableResult
    public func trainTeacher() throws -> Model? {
        if teacherResolved { return teacherModel }
        try ready()
        let c = config, p = try prepareData()
        let teacher = try network(width: c.teacherWidth, seed: c.seed &+ 1)
        switch c.teacherSource {
        case .scratch:
            guard !studentsTrainedHere.isEmpty else {
                log("teacher: not trained (every student is brought trained from elsewhere, so nothing needs it)")
                teacherResolved = true
                return nil
            }
            try train("teacher", teacher, trainingConfig("teacher", epochs: c.teacherEpochs, seedOffset: 1), .scratch, p.teacherData,
                      "(\(family.name) ×\(c.teacherWidth), \(p.teacherData.count) samples, \(c.teacherEpochs) epochs)")
        case let .fineTuned(path):
            guard !studentsTrainedHere.isEmpty else {
                log("teacher: not fine-tuned (every student is brought trained from elsewhere, so nothing needs it)")
                teacherResolved = true
                return nil
            }
            try loadPretrained(teacher, from: path, who: "teacher")
            try train("teacher", teacher, trainingConfig("teacher", epochs: c.teacherEpochs, seedOffset: 1), .scratch, p.teacherData,
                      "fine-tuned from \(path) (\(family.name) ×\(c.teacherWidth), \(p.teacherData.count) samples, \(c.teacherEpochs) epochs)")
        case let .trained(path):
            try loadPretrained(teacher, from: path, who: "teacher")
            log("teacher: trained weights from \(path), used as they are")
        }
        teacherModel = teacher
        teacherResolved = true
        return teacher
    }

    /// Step 4: trains (or resumes) the baseline from scratch on the student's data, or loads it when it is
    /// brought trained from elsewhere.
    @discardableResult
    public func trainBaseline() throws -> Model {
        if let b = baselineModel { return b }
        try ready()
        let c = config, p = try prepareData()
        let baseline = try network(width: c.studentWidth, seed: c.seed &+ 2)
        if let brought = try broughtNetworks()["baseline"] {
            try loadBrought(baseline, brought)
        } else {
            try train("baseline", baseline, trainingConfig("baseline", epochs: c.baselineEpochs, seedOffset: 2), .scratch, p.studentData,
                      "from scratch (\(p.studentData.count) images, \(c.baselineEpochs) epochs)")
        }
        baselineModel = baseline
        return baseline
    }

    /// Step 5: one student per method (Docs/Methods.md), each in its own folder; all start from the
    /// baseline's w₀ (fine-tuning from the given weights instead).
    @discardableResult
    public func trainStudents() throws -> [TrainedStudent] {
        try config.methods.map { try trainStudent($0) }
    }

    /// One method's student: trained (or resumed), or loaded when it is brought trained from elsewhere.
    @discardableResult
    public func trainStudent(_ method: DistillationMethod) throws -> TrainedStudent {
        let c = config
        let name = Self.networkName(method, config: c)
        if let s = trainedStudents[name] { return s }
        try ready()
        let student = try network(width: c.studentWidth, seed: c.seed &+ 2)   // same w_0 as the baseline
        if let brought = try broughtNetworks()[name] {
            try loadBrought(student, brought)
        } else {
            guard let teacher = try trainTeacher() else { throw StudyError.invalidConfig(["\(name) needs a teacher"]) }
            try trainDistilled(method, name: name, student: student, teacher: teacher, data: try prepareData().studentData)
        }
        let stage = try MethodLayers.analysedStage(method, model: student, analysedTap: c.tap, distillationTap: c.effectiveDistillationTap)
        let s = TrainedStudent(method: method, name: name, model: student, stage: stage)
        trainedStudents[name] = s
        return s
    }

    private func trainDistilled(_ method: DistillationMethod, name: String, student: Model, teacher: Model, data: TrainingData) throws {
        let c = config, distillAt = c.effectiveDistillationTap
        let twoStage = trainingConfig(name, epochs: c.studentEpochs, stage2: c.studentStage2Epochs, seedOffset: 2)
        let oneStage = trainingConfig(name, epochs: c.baselineEpochs, seedOffset: 2)
        let stages = "(\(c.studentEpochs) + \(c.studentStage2Epochs) epochs)", epochs = "(\(c.baselineEpochs) epochs)"
        switch method {
        case let .featureDistillation(layer):
            let at = layer ?? distillAt
            let adapter = try makeAdapter(student: student, teacher: teacher, studentTap: at, teacherTap: at)
            try train(name, student, twoStage, .featureDistillation(teacher: teacher, teacherTap: at, studentTap: at, adapter: adapter),
                      data, "by feature distillation at \(at) \(stages)")
        case let .hinton(t, b):
            try train(name, student, oneStage, .hinton(teacher: teacher, temperature: Float(t), beta: Float(b)),
                      data, "by Hinton KD (T = \(t), β = \(b)) \(epochs)")
        case let .fitNets(sl, tl, t, b):
            let (s, tt) = (sl ?? distillAt, tl ?? distillAt)
            let adapter = try makeAdapter(student: student, teacher: teacher, studentTap: s, teacherTap: tt)
            try train(name, student, twoStage,
                      .fitNets(teacher: teacher, teacherLayer: tt, studentLayer: s, adapter: adapter, temperature: Float(t), beta: Float(b)),
                      data, "by FitNets (hint \(tt) → \(s), then KD T = \(t), β = \(b)) \(stages)")
        case let .attentionTransfer(pairs, b):
            let p = pairs ?? [LayerPair(student: distillAt, teacher: distillAt)]
            try train(name, student, oneStage, .attentionTransfer(teacher: teacher, pairs: p, beta: Float(b)),
                      data, "by attention transfer (\(p.map(\.description).joined(separator: ", ")), β = \(b)) \(epochs)")
        case let .flowOfSolution(pairs):
            try train(name, student, twoStage, .flowOfSolution(teacher: teacher, pairs: pairs),
                      data, "by FSP (\(pairs.map { "\($0.from)→\($0.to)" }.joined(separator: ", "))) \(stages)")
        case let .mutualLearning(n):
            let peers = try (1...n).map { try network(width: c.studentWidth, seed: c.seed &+ 100 &+ UInt64($0)) }
            try train(name, student, oneStage, .mutualLearning(peers: peers), data,
                      "by deep mutual learning with \(n) peer\(n == 1 ? "" : "s") \(epochs)")
        case let .fineTuning(weights):
            try loadPretrained(student, from: weights, who: name)
            try train(name, student, oneStage, .fineTuning(source: weights), data, "fine-tuned from \(weights) \(epochs)")
        }
    }

    /// Step 6: the test accuracy of every network (the teacher's only when it exists).
    @discardableResult
    public func measureAccuracy() throws -> [String: Double] {
        if let a = accuracy { return a }
        let test = try prepareData().testData
        let students = try trainStudents()
        var a = ["baseline": Trainer.evaluate(try trainBaseline(), on: test)]
        if let t = try trainTeacher() { a["teacher"] = Trainer.evaluate(t, on: test) }
        for s in students { a[s.name] = Trainer.evaluate(s.model, on: test) }
        if students.count == 1 && students[0].name == "student", let t = a["teacher"] {
            log(String(format: "test accuracy: teacher %.1f %%, student %.1f %%, baseline %.1f %%",
                       100 * t, 100 * a["student"]!, 100 * a["baseline"]!))
        } else {
            log("test accuracy: " + ((a["teacher"] == nil ? [] : ["teacher"]) + students.map(\.name) + ["baseline"])
                .map { String(format: "%@ %.1f %%", $0, 100 * a[$0]!) }.joined(separator: ", "))
        }
        accuracy = a
        return a
    }

    /// Whether `network` (`teacher`, `baseline`, `student…`) is ready for the steps after training: its final
    /// checkpoint is written, or it is brought trained, or (the teacher) used as given.
    public func isTrained(_ network: String) throws -> Bool {
        if try broughtNetworks()[network] != nil { return true }
        if network == "teacher", case .trained = config.teacherSource { return true }
        guard let url = try finalCheckpoint(ofNetwork: network) else { return false }
        return FileManager.default.fileExists(atPath: url.path)
    }

    /// The networks this study trains itself, in training order (the teacher only when a student needs it).
    public func networksTrainedHere() throws -> [String] {
        let brought = try broughtNetworks()
        var out: [String] = []
        if !studentsTrainedHere.isEmpty {
            if case .trained = config.teacherSource {} else { out.append("teacher") }
        }
        if brought["baseline"] == nil { out.append("baseline") }
        out += studentsTrainedHere.map { Self.networkName($0, config: config) }
        return out
    }

    /// The last checkpoint training writes for a network trained here (the final stage's last epoch).
    func finalCheckpoint(ofNetwork name: String) throws -> URL? {
        let c = config
        switch name {
        case "teacher": return Trainer.checkpointURL(in: folder.appendingPathComponent("teacher"), epoch: c.teacherEpochs)
        case "baseline": return Trainer.checkpointURL(in: folder.appendingPathComponent("baseline"), epoch: c.baselineEpochs)
        default:
            guard let m = c.methods.first(where: { Self.networkName($0, config: c) == name }) else { return nil }
            return m.isTwoStage
                ? Trainer.checkpointURL(in: folder.appendingPathComponent(name).appendingPathComponent("stage2"), epoch: c.studentStage2Epochs)
                : Trainer.checkpointURL(in: folder.appendingPathComponent(name), epoch: c.baselineEpochs)
        }
    }
}
