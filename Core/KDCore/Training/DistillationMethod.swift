import Foundation

// The survey's distillation methods as study settings (Docs/Methods.md): each case carries its
// hyper-parameters, is recorded in study.json and in every checkpoint's metadata, and becomes one
// TrainingMode of the same Trainer.

/// A (student layer, teacher layer) pair of a feature-matching method.
public struct LayerPair: Codable, Equatable, Sendable {
    public var student: String
    public var teacher: String
    public init(student: String, teacher: String) { self.student = student; self.teacher = teacher }
    public var description: String { student == teacher ? student : "\(student)→\(teacher)" }
}

/// Two layers of one network with the same spatial size, whose flow (FSP) matrix is matched.
public struct FlowPair: Codable, Equatable, Sendable {
    public var from: String
    public var to: String
    public init(from: String, to: String) { self.from = from; self.to = to }
}

/// How a study's student is trained from the teacher (Docs/Methods.md).
public enum DistillationMethod: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The paper's two-stage feature distillation (Docs/Method.md §6) at `layer` (nil: the study's
    /// distillation tap, i.e. `distillationTap ?? tap`).
    case featureDistillation(layer: String?)
    /// Hinton et al.: `(1 − β)·CE + β·T²·KL(softmax(t/T) ‖ softmax(s/T))` on the whole network.
    case hinton(temperature: Double, beta: Double)
    /// FitNets (Romero et al.): stage 1 regresses the teacher's `teacherLayer` output from the student's
    /// `studentLayer` through an adapter (1×1 conv or linear), MSE; stage 2 Hinton KD on the whole network.
    /// nil layers: the study's distillation tap.
    case fitNets(studentLayer: String?, teacherLayer: String?, temperature: Double, beta: Double)
    /// Attention transfer (Zagoruyko & Komodakis): `CE + (β/2) Σ_pairs mean_b ‖q_S − q_T‖²`; nil pairs: the
    /// study's distillation tap in both networks.
    case attentionTransfer(pairs: [LayerPair]?, beta: Double)
    /// FSP (Yim et al.): stage 1 `Σ_pairs mean_b ‖G_S − G_T‖²`, stage 2 cross-entropy on the whole network.
    case flowOfSolution(pairs: [FlowPair])
    /// Deep mutual learning (Zhang et al. 2018): the student and `peers` more students (other seeds) trained
    /// together, each with `CE + mean_others KL(p_other ‖ p_self)`; the first is analysed. No teacher.
    case mutualLearning(peers: Int)
    /// The student starts from the weights in `weights` (safetensors, through the family's name mapping)
    /// and trains with cross-entropy (the paper's Fig. 7 compares it with training from scratch). No teacher.
    case fineTuning(weights: String)

    /// The paper's method, the study's default.
    public static let paper = DistillationMethod.featureDistillation(layer: nil)
    public static let defaultTemperature = 4.0, defaultBeta = 0.9, defaultAttentionBeta = 1000.0

    /// A short name: the network's name is `student-<id>` and its folder `student-<id>/`.
    public var id: String {
        switch self {
        case .featureDistillation: return "feature"
        case .hinton: return "hinton"
        case .fitNets: return "fitnets"
        case .attentionTransfer: return "attention"
        case .flowOfSolution: return "fsp"
        case .mutualLearning: return "mutual"
        case .fineTuning: return "fine-tune"
        }
    }

    /// Every method id, for error messages.
    public static let ids = ["feature", "hinton", "fitnets", "attention", "fsp", "mutual", "fine-tune"]

    public var description: String {
        switch self {
        case let .featureDistillation(l): return "feature distillation at \(l ?? "the distillation tap")"
        case let .hinton(t, b): return "Hinton KD (T = \(t), β = \(b))"
        case let .fitNets(s, t, temp, b): return "FitNets (\(s ?? "tap") ← teacher \(t ?? "tap"), then KD T = \(temp), β = \(b))"
        case let .attentionTransfer(p, b): return "attention transfer (\(p?.map(\.description).joined(separator: ", ") ?? "tap"), β = \(b))"
        case let .flowOfSolution(p): return "FSP (\(p.map { "\($0.from)→\($0.to)" }.joined(separator: ", ")))"
        case let .mutualLearning(n): return "deep mutual learning (\(n + 1) students)"
        case let .fineTuning(w): return "fine-tuning from \(w)"
        }
    }

    /// Whether the method distils from the teacher (mutual learning and fine-tuning do not).
    public var usesTeacher: Bool {
        switch self {
        case .mutualLearning, .fineTuning: return false
        default: return true
        }
    }

    /// Whether training has two stages (stage1/, stage2/ folders).
    public var isTwoStage: Bool {
        switch self {
        case .featureDistillation, .fitNets, .flowOfSolution: return true
        default: return false
        }
    }

    /// Problems with the hyper-parameters alone, naming the key (empty when valid).
    public var problems: [String] {
        var p: [String] = []
        func temperatureAndBeta(_ t: Double, _ b: Double) {
            if !(t > 0) { p.append("\(id).temperature must be > 0, got \(t)") }
            if !(b >= 0 && b <= 1) { p.append("\(id).beta must be in [0, 1], got \(b)") }
        }
        switch self {
        case .featureDistillation: break
        case let .hinton(t, b): temperatureAndBeta(t, b)
        case let .fitNets(_, _, t, b): temperatureAndBeta(t, b)
        case let .attentionTransfer(pairs, b):
            if !(b >= 0 && b.isFinite) { p.append("attention.beta must be ≥ 0, got \(b)") }
            if let pairs, pairs.isEmpty { p.append("attention.pairs is empty: give at least one (student, teacher) layer pair") }
        case let .flowOfSolution(pairs):
            if pairs.isEmpty { p.append("fsp.pairs is empty: give at least one (from, to) layer pair") }
        case let .mutualLearning(n):
            if n < 1 { p.append("mutual.peers must be at least 1, got \(n)") }
        case let .fineTuning(w):
            if w.isEmpty { p.append("fine-tune.weights is empty: give a safetensors file") }
        }
        return p
    }
}

extension CheckpointSchedule {
    /// A checkpoint after every epoch.
    public static let everyEpoch = CheckpointSchedule.dense(upTo: 0, thenEvery: 1)
}

/// Checks the layers a method needs against the student and teacher networks before any training, naming
/// the setting and the valid layers. Returns one sentence per problem.
public enum MethodLayers {
    /// `tap`: the study's distillation tap (the default layer of feature, FitNets and attention transfer).
    public static func problems(_ method: DistillationMethod, student: Model, teacher: Model, tap: String) -> [String] {
        var p: [String] = []
        func index(_ m: Model, _ name: String, key: String, who: String) -> Int? {
            if let i = m.body.index(of: name) { return i }
            p.append("\(key): the \(who) has no layer '\(name)'; its layers are: \(m.layerNames.joined(separator: ", "))")
            return nil
        }
        func spatial(_ m: Model, _ i: Int) -> [Int]? {
            let s = m.outputShape(batch: 1, through: i)
            return s.count == 4 ? s : nil
        }
        func conv(_ m: Model) -> String {
            m.layerNames.enumerated().filter { m.outputShape(batch: 1, through: $0.offset).count == 4 }.map(\.element).joined(separator: ", ")
        }
        let last = student.layerNames.count - 1
        switch method {
        case let .featureDistillation(layer):
            let l = layer ?? tap
            if let i = index(student, l, key: "feature.layer", who: "student"), i == last {
                p.append("feature.layer: '\(l)' is the student's last layer, so stage 2 would have nothing to train; choose an earlier layer")
            }
            _ = index(teacher, l, key: "feature.layer", who: "teacher")
        case let .fitNets(s, t, _, _):
            let si = index(student, s ?? tap, key: "fitnets.student-layer", who: "student")
            let ti = index(teacher, t ?? tap, key: "fitnets.teacher-layer", who: "teacher")
            if let si, let ti {
                let a = student.outputShape(batch: 1, through: si), b = teacher.outputShape(batch: 1, through: ti)
                if a != b && !(a.count == b.count && a.dropLast() == b.dropLast()) {
                    p.append("fitnets: the student's \(s ?? tap) output \(Array(a.dropFirst())) cannot be mapped to the teacher's \(t ?? tap) output \(Array(b.dropFirst())) by a 1×1 conv or linear adapter (they must agree in every axis but channels)")
                }
            }
        case let .attentionTransfer(pairs, _):
            for pair in pairs ?? [LayerPair(student: tap, teacher: tap)] {
                let si = index(student, pair.student, key: "attention.pairs.student", who: "student")
                let ti = index(teacher, pair.teacher, key: "attention.pairs.teacher", who: "teacher")
                guard let si, let ti else { continue }
                guard let a = spatial(student, si), let b = spatial(teacher, ti) else {
                    p.append("attention.pairs: \(pair.description) must be conv features (B, H, W, C) in both networks; the student's conv layers are: \(conv(student))")
                    continue
                }
                if a[1] != b[1] || a[2] != b[2] {
                    p.append("attention.pairs: \(pair.description) has H×W \(a[1])×\(a[2]) in the student but \(b[1])×\(b[2]) in the teacher")
                }
            }
        case let .flowOfSolution(pairs):
            for pair in pairs {
                for (m, who) in [(student, "student"), (teacher, "teacher")] {
                    let fi = index(m, pair.from, key: "fsp.pairs.from", who: who)
                    let ti = index(m, pair.to, key: "fsp.pairs.to", who: who)
                    guard let fi, let ti else { continue }
                    guard let a = spatial(m, fi), let b = spatial(m, ti) else {
                        p.append("fsp.pairs: \(pair.from)→\(pair.to) must be conv features (B, H, W, C) in the \(who); its conv layers are: \(conv(m))")
                        continue
                    }
                    if a[1] != b[1] || a[2] != b[2] {
                        p.append("fsp.pairs: \(pair.from) (\(a[1])×\(a[2])) and \(pair.to) (\(b[1])×\(b[2])) differ in spatial size in the \(who); an FSP matrix needs the same H×W")
                    }
                }
                if let sf = student.body.index(of: pair.from), let st = student.body.index(of: pair.to),
                   let tf = teacher.body.index(of: pair.from), let tt = teacher.body.index(of: pair.to),
                   let a1 = spatial(student, sf), let a2 = spatial(student, st), let b1 = spatial(teacher, tf), let b2 = spatial(teacher, tt),
                   a1[3] != b1[3] || a2[3] != b2[3] {
                    p.append("fsp.pairs: \(pair.from)→\(pair.to) gives a \(a1[3])×\(a2[3]) matrix in the student but \(b1[3])×\(b2[3]) in the teacher; FSP needs equal channel counts (use equal widths — adapters are not supported for FSP)")
                }
                if let st = student.body.index(of: pair.to), let sf = student.body.index(of: pair.from), max(st, sf) == last {
                    p.append("fsp.pairs: \(pair.to) is the student's last layer; stage 2 needs layers to train above it")
                }
            }
        case .hinton:
            if student.outputShape(batch: 1) != teacher.outputShape(batch: 1) {
                p.append("hinton: the student's output \(student.outputShape(batch: 1)) differs from the teacher's \(teacher.outputShape(batch: 1))")
            }
        case .mutualLearning, .fineTuning:
            break
        }
        return p
    }

    /// The stage folder whose checkpoints are analysed for `method` when the analysed tap is `analysedTap`
    /// (nil: the method has one stage). Two-stage methods analyse stage 1 when the analysed layer learns there
    /// (at or below the stage-1 layer), stage 2 otherwise (Docs/Methods.md).
    public static func analysedStage(_ method: DistillationMethod, model: Model, analysedTap: String, distillationTap: String) throws -> String? {
        let a = try model.layerIndex(analysedTap)
        switch method {
        case let .featureDistillation(layer):
            return a > (try model.layerIndex(layer ?? distillationTap)) ? "stage2" : "stage1"
        case let .fitNets(s, _, _, _):
            return a > (try model.layerIndex(s ?? distillationTap)) ? "stage2" : "stage1"
        case let .flowOfSolution(pairs):
            let top = try pairs.map { max(try model.layerIndex($0.from), try model.layerIndex($0.to)) }.max() ?? 0
            return a > top ? "stage2" : "stage1"
        default:
            return nil
        }
    }
}
