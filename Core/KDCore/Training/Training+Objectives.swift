import Foundation

// The trainer's stages and objectives: one objective per training mode (scratch, Hinton KD, feature
// distillation, attention transfer, FSP, mutual learning), each running forward and backward on a batch.

extension Trainer {
    // MARK: - Stages and objectives

    /// Runs forward and backward on a batch, leaving gradients in the trained parameters; returns the loss.
    typealias Objective = (_ x: Tensor, _ labels: [Int]) -> Double

    struct Stage {
        var name: String?
        /// 0 single-stage, 1 and 2 the stages of feature distillation (separates their random streams).
        var index: Int
        var folder: URL
        var epochs: Int
        var trained: [(String, Parameter)]
        var record: ModeRecord
        var objective: Objective
        /// Extra trained layers whose state is saved with the optimiser's: FitNets' and feature distillation's
        /// adapter, mutual learning's peers (a ``Cohort``).
        var adapter: Layer? = nil
        /// Contexts of other networks trained in this stage (mutual learning's peers): reseeded every epoch.
        var extraContexts: [LayerContext] = []
    }

    /// How a run was trained, beyond the config; compared when resuming.
    struct ModeRecord: Codable, Equatable {
        var kind: String
        var teacher: String? = nil
        /// FNV-1a over the teacher's parameter bits: a resumed run must distil from the same teacher.
        var teacherFingerprint: String? = nil
        var teacherTap: String? = nil
        var studentTap: String? = nil
        var adapter: String? = nil
        var temperature: Double? = nil
        var beta: Double? = nil
        /// Attention-transfer and FSP layer pairs ("a->b").
        var pairs: [String]? = nil
        /// Mutual learning: the number of peers.
        var peers: Int? = nil
        /// Fine-tuning: the weights the model started from.
        var source: String? = nil
    }


    /// Cross-entropy, training layers `from...` (layers below run in inference mode and get no gradient).
    func scratchObjective(from first: Int) -> Objective {
        { [unowned self] x, labels in
            let c = context
            var h = x
            if first > 0 {
                c.training = false
                h = model.body.forward(x, c, range: 0..<first)
            }
            c.training = true
            let y = model.body.forward(h, c, range: first..<model.layerNames.count)
            let loss = batchSpans.map { Loss.spanCrossEntropy(logits: y, spans: $0, lengths: batchLengths, gradient: gradient) }
                ?? Loss.crossEntropy(logits: y, labels: labels, gradient: gradient)
            c.parameterGradients = true
            c.inputGradient = false
            _ = model.backward(gradient, c, downTo: first)
            return loss
        }
    }

    func hintonObjective(teacher: Model, temperature: Float, beta: Float) -> Objective {
        let teacherContext = teacher.makeContext()
        teacherContext.training = false
        return { [unowned self] x, labels in
            let c = context
            teacherContext.validLengths = batchLengths
            c.training = true
            let y = model.forward(x, c)
            let t = teacher.forward(x, teacherContext)
            let loss = Loss.hinton(student: y, teacher: t, labels: labels, temperature: temperature, beta: beta,
                                   gradient: gradient)
            c.parameterGradients = true
            c.inputGradient = false
            _ = model.backward(gradient, c)
            return loss
        }
    }

    func featureObjective(teacher: Model, teacherTap: Int, studentTap: Int, adapter: Layer?) -> Objective {
        let teacherContext = teacher.makeContext()
        teacherContext.training = false
        let adapterContext = adapter?.makeContext()
        return { [unowned self] x, _ in
            let c = context
            teacherContext.validLengths = batchLengths
            c.training = true
            let feature = model.forward(x, c, through: studentTap)
            var student = feature
            if let adapter, let ac = adapterContext {
                setTraining(ac, true)
                student = adapter.forward(feature, ac)
            }
            let target = teacher.forward(x, teacherContext, through: teacherTap)
            let loss = Loss.meanSquaredError(student, target, gradient: gradient)
            var g = gradient
            if let adapter, let ac = adapterContext {
                ac.parameterGradients = true
                ac.inputGradient = true
                g = adapter.backward(gradient, ac)
            }
            c.parameterGradients = true
            c.inputGradient = false
            _ = model.backward(g, c, from: studentTap)
            return loss
        }
    }

    /// CE on the logits plus (β/2)·Σ_pairs attention-transfer losses at intermediate layers.
    func attentionObjective(teacher: Model, pairs: [(s: Int, t: Int)], beta: Float) -> Objective {
        let teacherContext = teacher.makeContext()
        teacherContext.training = false
        let studentTaps = Array(Set(pairs.map(\.s))).sorted()
        let teacherTaps = Array(Set(pairs.map(\.t))).sorted()
        let last = model.layerNames.count - 1
        return { [unowned self] x, labels in
            let c = context
            teacherContext.validLengths = batchLengths
            c.training = true
            let features = Trainer.forward(model, x, c, taps: studentTaps, through: last)
            let targets = Trainer.forward(teacher, x, teacherContext, taps: teacherTaps, through: teacherTaps.last!)
            var loss = Loss.crossEntropy(logits: features[last]!, labels: labels, gradient: gradient)
            var tapGradients: [Int: Tensor] = [:]
            let g = Tensor(shape: [0])
            for (s, t) in pairs {
                loss += Double(beta / 2) * Loss.attentionTransfer(student: features[s]!, teacher: targets[t]!, gradient: g)
                let acc = tapGradients[s] ?? { let z = Tensor(shape: g.shape); tapGradients[s] = z; return z }()
                for i in 0..<g.count { acc.data[i] += beta / 2 * g.data[i] }
            }
            Trainer.backward(model, c, top: last, topGradient: gradient, tapGradients: tapGradients)
            return loss
        }
    }

    /// Σ_pairs of FSP matching losses (each the mean over its matrix entries), back-propagated from the
    /// student's pair layers.
    func flowObjective(teacher: Model, student: [(Int, Int)], teacherPairs: [(Int, Int)]) -> Objective {
        let teacherContext = teacher.makeContext()
        teacherContext.training = false
        let studentTaps = Array(Set(student.flatMap { [$0.0, $0.1] })).sorted()
        let teacherTaps = Array(Set(teacherPairs.flatMap { [$0.0, $0.1] })).sorted()
        return { [unowned self] x, _ in
            let c = context
            teacherContext.validLengths = batchLengths
            c.training = true
            let features = Trainer.forward(model, x, c, taps: studentTaps, through: studentTaps.last!)
            let targets = Trainer.forward(teacher, x, teacherContext, taps: teacherTaps, through: teacherTaps.last!)
            var loss = 0.0
            var tapGradients: [Int: Tensor] = [:]
            func accumulate(_ layer: Int, _ g: Tensor) {
                if let acc = tapGradients[layer] { for i in 0..<g.count { acc.data[i] += g.data[i] } } else { tapGradients[layer] = g }
            }
            for ((a, b), (ta, tb)) in zip(student, teacherPairs) {
                let g1 = Tensor(shape: [0]), g2 = Tensor(shape: [0])
                let target = Loss.flowMatrix(targets[ta]!, targets[tb]!)
                // The mean over the C1·C2 matrix entries (Yim et al. sum them, with pair weights): the loss
                // scale then does not grow with the width, and the study's learning rate stays usable.
                let entries = Double(target.shape[1] * target.shape[2])
                loss += Loss.flowMatching(first: features[a]!, second: features[b]!, teacherFlow: target,
                                          firstGradient: g1, secondGradient: g2, weight: 1 / entries)
                accumulate(a, g1); accumulate(b, g2)
            }
            Trainer.backward(model, c, top: studentTaps.last!, topGradient: nil, tapGradients: tapGradients)
            return loss
        }
    }

    /// Every cohort member's CE + mean KL from the others (their logits of the same batch, as constants);
    /// returns the cohort's mean loss.
    func mutualObjective(peers: [Model], contexts: [LayerContext]) -> Objective {
        let grads = peers.map { _ in Tensor(shape: [0]) }
        return { [unowned self] x, labels in
            let c = context
            c.training = true
            var logits = [model.forward(x, c)]
            for (p, pc) in zip(peers, contexts) {
                pc.training = true
                pc.validLengths = batchLengths
                logits.append(p.forward(x, pc))
            }
            var total = 0.0
            let members = [model] + peers, ctxs = [c] + contexts, gs = [gradient] + grads
            for k in 0..<members.count {
                let others = logits.enumerated().filter { $0.offset != k }.map(\.element)
                total += Loss.mutual(logits: logits[k], peers: others, labels: labels, gradient: gs[k])
            }
            for k in 0..<members.count {
                ctxs[k].parameterGradients = true
                ctxs[k].inputGradient = false
                _ = members[k].backward(gs[k], ctxs[k])
            }
            return total / Double(members.count)
        }
    }

    /// Runs `model` through layer `through`, returning the outputs of `taps` (and of `through`) by layer index.
    /// The outputs are the layers' own buffers, valid until the next forward pass.
    static func forward(_ model: Model, _ x: Tensor, _ c: LayerContext, taps: [Int], through: Int) -> [Int: Tensor] {
        var out: [Int: Tensor] = [:]
        var h = x, start = 0
        for t in (taps + [through]).sorted() where t >= start && t <= through {
            h = model.body.forward(h, c, range: start..<(t + 1))
            out[t] = h
            start = t + 1
        }
        return out
    }

    /// Back-propagates from the output of layer `top` (gradient `topGradient`, or that layer's tap gradient)
    /// to the input, adding each tap's gradient at its layer's output on the way down. Parameter gradients
    /// accumulate in the model's parameters.
    static func backward(_ model: Model, _ c: LayerContext, top: Int, topGradient: Tensor?, tapGradients: [Int: Tensor]) {
        func sum(_ a: Tensor?, _ b: Tensor?) -> Tensor {
            guard let a else { return b! }
            guard let b else { return a }
            let out = a.copy()
            for i in 0..<out.count { out.data[i] += b.data[i] }
            return out
        }
        var g = sum(topGradient, tapGradients[top])
        var current = top
        c.parameterGradients = true
        for t in tapGradients.keys.sorted(by: >) where t < current {
            c.inputGradient = true
            g = sum(model.body.backward(g, c, range: (t + 1)..<(current + 1)), tapGradients[t])
            current = t
        }
        c.inputGradient = false
        _ = model.body.backward(g, c, range: 0..<(current + 1))
    }

    func checkTeacher(_ teacher: Model, studentShape: [Int]?, teacherShape: [Int]?) throws {
        guard teacher.inputShape == model.inputShape else {
            throw TrainingError.incompatibleTeacher("it takes inputs of shape \(teacher.inputShape), the student \(model.inputShape)")
        }
        if let s = studentShape, let t = teacherShape, s != t {
            throw TrainingError.incompatibleTeacher("its output has shape \(Array(t.dropFirst())), the student's \(Array(s.dropFirst()))")
        }
    }
}
