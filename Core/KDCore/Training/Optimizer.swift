import Foundation

// Optimisers with PyTorch's update rules, so a run here and a run there with the same settings take
// the same steps. State (momentum buffers, Adam moments) is keyed by parameter name and exposed as
// named tensors so training can be resumed from a checkpoint.

/// Updates parameters from their gradients.
///
/// Rules every optimiser follows:
/// - Frozen parameters are skipped: their value and state do not change and their Δ is 0.
/// - `step` returns ‖Δw‖₂ for each parameter, in the order given, measured on the stored Float32
///   values (new − old), which is what Method.md §4's `path` weight distance sums.
/// - State is created lazily on a parameter's first unfrozen step, so it is sparse.
public protocol Optimizer: AnyObject {
    /// Applies one update and returns ‖w_after − w_before‖₂ per parameter tensor.
    func step(_ params: [(String, Parameter)], learningRate: Float) -> [Float]
    /// The state as named tensors `<parameter name>.<slot>`, sorted by name (copies).
    var state: [(String, Tensor)] { get }
    /// Replaces the state. Every tensor must belong to one of `parameters` with a matching shape.
    func setState(_ tensors: [(String, Tensor)], parameters: [(String, Parameter)]) throws
}

/// Errors in optimiser state read back from a file.
public enum OptimizerStateError: Error, CustomStringConvertible, Equatable {
    /// A state tensor names no known parameter or slot.
    case unknownTensor(String, knownSlots: [String])
    /// A state tensor's shape differs from its parameter's (or a step count is not a scalar).
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    /// A step count that is not a whole number in 1…2²⁴.
    case invalidStep(tensor: String, found: String)

    public var description: String {
        switch self {
        case let .invalidStep(name, found):
            return "optimiser state \(name) is \(found), expected a whole number of steps from 1 to 16777216; the state file is damaged"
        case let .unknownTensor(name, slots):
            return "optimiser state tensor '\(name)' is not '<parameter>.<slot>' for a parameter of this model "
                + "with slot one of \(slots.joined(separator: ", ")); was the state written for another model or optimiser?"
        case let .shapeMismatch(name, expected, found):
            return "optimiser state tensor '\(name)' has shape \(found), expected \(expected); "
                + "was the state written for another model?"
        }
    }
}

/// Stochastic gradient descent with momentum and L2 weight decay, as `torch.optim.SGD` (dampening 0).
///
/// ```
/// d = g + wd · w
/// buf = d                      (first step)
/// buf = μ · buf + d            (later steps)
/// d = d + μ · buf  (Nesterov)  or  d = buf
/// w = w − lr · d
/// ```
/// With μ = 0 no buffer is kept and the update is `w − lr · d`. The paper's setting is μ = 0.9,
/// wd = 1e-4 (Method.md §6).
public final class SGD: Optimizer {
    public let momentum: Float
    public let weightDecay: Float
    public let nesterov: Bool
    private var buffers: [String: Tensor] = [:]

    public init(momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(momentum >= 0 && weightDecay >= 0, "momentum and weight decay must be non-negative")
        precondition(!nesterov || momentum > 0, "Nesterov momentum requires momentum > 0")
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step(_ params: [(String, Parameter)], learningRate lr: Float) -> [Float] {
        var norms = [Float](repeating: 0, count: params.count)
        for (k, (name, p)) in params.enumerated() where !p.frozen { norms[k] = update(name, p, lr) }
        return norms
    }

    private func update(_ name: String, _ p: Parameter, _ lr: Float) -> Float {
        let n = p.value.count
        let w = p.value.data, g = p.grad.data
        let (mu, wd) = (momentum, weightDecay)
        var sumSquares = 0.0
        if mu == 0 {
            for i in 0..<n {
                let old = w[i]
                w[i] = old - lr * (g[i] + wd * old)
                let delta = Double(w[i]) - Double(old)
                sumSquares += delta * delta
            }
            return Float(sumSquares.squareRoot())
        }
        let first = buffers[name] == nil
        let buffer = buffers[name] ?? Tensor(shape: p.value.shape)
        buffers[name] = buffer
        let b = buffer.data
        // 8 lanes at a time: the scalar loop's Double sum of squares kept it from vectorising (fc1 of
        // vgg-s, 4.2 M weights, took longer than its gradient's copy). Same values, lane by lane;
        // Δ² is summed in Float per block of 1024 and the blocks in Double, in block order. A large
        // parameter's blocks are split over the cores (``Parallel``), each block's Float sum kept, and
        // the Double sum taken afterwards in the same order, so the result does not depend on the split.
        let wide = n - n % 8
        let blockCount = (wide + Self.block - 1) / Self.block
        if blockSums.count < blockCount { blockSums = [Float](repeating: 0, count: blockCount) }
        let (nesterov, lr) = (self.nesterov, lr)
        if blockCount > 0 { blockSums.withUnsafeMutableBufferPointer { sums in
            let sp = sums.baseAddress!
            Parallel.chunks(count: wide, alignment: Self.block, threads: threads) { range in
                var i = range.lowerBound
                while i < range.upperBound {
                    var block = SIMD8<Float>()
                    let end = min(range.upperBound, i + Self.block)
                    while i < end {
                        let old = Self.load8(w + i)
                        let d = Self.load8(g + i) + wd * old
                        let buf = first ? d : mu * Self.load8(b + i) + d
                        Self.store8(buf, b + i)
                        let new = old - lr * (nesterov ? d + mu * buf : buf)
                        Self.store8(new, w + i)
                        let delta = new - old
                        block += delta * delta
                        i += 8
                    }
                    sp[(end - 1) / Self.block] = block.sum()
                }
            }
            for k in 0..<blockCount { sumSquares += Double(sp[k]) }
        } }
        var i = wide
        while i < n {
            let old = w[i]
            let d = g[i] + wd * old
            b[i] = first ? d : mu * b[i] + d
            w[i] = old - lr * (nesterov ? d + mu * b[i] : b[i])
            let delta = Double(w[i]) - Double(old)
            sumSquares += delta * delta
            i += 1
        }
        return Float(sumSquares.squareRoot())
    }

    /// Elements per Float partial sum of Δ².
    static let block = 1024
    /// Per-block Float sums of Δ² of the parameter being updated (reused).
    private var blockSums: [Float] = []
    /// Threads for a large parameter's update: `nil` (the default) follows ``Parallel``; a number forces
    /// that many (tests). The result is the same for any count.
    public var threads: Int? = nil

    @inline(__always) private static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) private static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    public var state: [(String, Tensor)] {
        buffers.keys.sorted().map { ($0 + ".momentum_buffer", buffers[$0]!.copy()) }
    }

    public func setState(_ tensors: [(String, Tensor)], parameters: [(String, Parameter)]) throws {
        let shapes = Dictionary(parameters.map { ($0.0, $0.1.value.shape) }, uniquingKeysWith: { a, _ in a })
        var restored: [String: Tensor] = [:]
        for (name, t) in tensors {
            guard let (param, slot) = splitSlot(name, slots: ["momentum_buffer"]), let shape = shapes[param],
                  slot == "momentum_buffer" else {
                throw OptimizerStateError.unknownTensor(name, knownSlots: ["momentum_buffer"])
            }
            guard t.shape == shape else { throw OptimizerStateError.shapeMismatch(tensor: name, expected: shape, found: t.shape) }
            restored[param] = t.copy()
        }
        buffers = restored
    }
}

/// Adam with bias correction and L2 weight decay added to the gradient, as `torch.optim.Adam`
/// (not AdamW).
///
/// ```
/// t = t + 1
/// g = g + wd · w
/// m = β₁ m + (1 − β₁) g          v = β₂ v + (1 − β₂) g²
/// w = w − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
/// Defaults are PyTorch's (β₁ 0.9, β₂ 0.999, ε 1e-8). The step count t is kept per parameter and
/// stored as a Float32 scalar, exact up to 2²⁴ steps.
public final class Adam: Optimizer {
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    public let weightDecay: Float
    private struct Moments { var m: Tensor; var v: Tensor; var t: Int }
    private var moments: [String: Moments] = [:]
    static let slots = ["exp_avg", "exp_avg_sq", "step"]

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam betas must be in [0, 1)")
        precondition(epsilon > 0 && weightDecay >= 0, "Adam needs epsilon > 0 and weight decay ≥ 0")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public func step(_ params: [(String, Parameter)], learningRate lr: Float) -> [Float] {
        var norms = [Float](repeating: 0, count: params.count)
        for (k, (name, p)) in params.enumerated() where !p.frozen { norms[k] = update(name, p, lr) }
        return norms
    }

    private func update(_ name: String, _ p: Parameter, _ lr: Float) -> Float {
        var s = moments[name] ?? Moments(m: Tensor(shape: p.value.shape), v: Tensor(shape: p.value.shape), t: 0)
        s.t += 1
        moments[name] = s
        let correction1 = 1 - pow(Double(beta1), Double(s.t))
        let correction2 = 1 - pow(Double(beta2), Double(s.t))
        let stepSize = Float(Double(lr) / correction1)
        let sqrtCorrection2 = Float(correction2.squareRoot())
        let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
        let w = p.value.data, g = p.grad.data, m = s.m.data, v = s.v.data
        var sumSquares = 0.0
        for i in 0..<p.value.count {
            let old = w[i]
            let d = g[i] + wd * old
            m[i] += (1 - b1) * (d - m[i])   // torch's lerp_ form
            v[i] = b2 * v[i] + (1 - b2) * (d * d)
            let denominator = v[i].squareRoot() / sqrtCorrection2 + eps
            w[i] = old - stepSize * (m[i] / denominator)
            let delta = Double(w[i]) - Double(old)
            sumSquares += delta * delta
        }
        return Float(sumSquares.squareRoot())
    }

    public var state: [(String, Tensor)] {
        moments.keys.sorted().flatMap { name -> [(String, Tensor)] in
            let s = moments[name]!
            return [(name + ".exp_avg", s.m.copy()), (name + ".exp_avg_sq", s.v.copy()),
                    (name + ".step", Tensor(scalar: Float(s.t)))]
        }
    }

    public func setState(_ tensors: [(String, Tensor)], parameters: [(String, Parameter)]) throws {
        let shapes = Dictionary(parameters.map { ($0.0, $0.1.value.shape) }, uniquingKeysWith: { a, _ in a })
        var parts: [String: [String: Tensor]] = [:]
        for (name, t) in tensors {
            guard let (param, slot) = splitSlot(name, slots: Adam.slots), let shape = shapes[param] else {
                throw OptimizerStateError.unknownTensor(name, knownSlots: Adam.slots)
            }
            let expected = slot == "step" ? [] : shape
            guard t.shape == expected else {
                throw OptimizerStateError.shapeMismatch(tensor: name, expected: expected, found: t.shape)
            }
            parts[param, default: [:]][slot] = t
        }
        var restored: [String: Moments] = [:]
        for (param, slots) in parts {
            // A parameter's three slots are written together; a partial set cannot resume exactly.
            for slot in Adam.slots where slots[slot] == nil {
                throw OptimizerStateError.unknownTensor(param + "." + slot + " (missing)", knownSlots: Adam.slots)
            }
            // A step count read from a file: a whole number in 1…2²⁴ (exact in Float) before it becomes an Int.
            guard let t = FileNumbers.int(exactly: slots["step"]![0], in: 1...(1 << 24)) else {
                throw OptimizerStateError.invalidStep(tensor: param + ".step", found: "\(slots["step"]![0])")
            }
            restored[param] = Moments(m: slots["exp_avg"]!.copy(), v: slots["exp_avg_sq"]!.copy(), t: t)
        }
        moments = restored
    }
}

/// Splits `fc1.weight.exp_avg` into (`fc1.weight`, `exp_avg`) when the suffix is one of `slots`.
private func splitSlot(_ name: String, slots: [String]) -> (String, String)? {
    for slot in slots where name.hasSuffix("." + slot) {
        return (String(name.dropLast(slot.count + 1)), slot)
    }
    return nil
}

/// The optimiser and its hyper-parameters, as recorded in a training configuration.
public enum OptimizerSettings: Codable, Equatable, Sendable {
    case sgd(momentum: Double, weightDecay: Double, nesterov: Bool)
    case adam(beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double)

    /// The paper's optimiser (Method.md §6): SGD, momentum 0.9, weight decay 1e-4.
    public static let paper = OptimizerSettings.sgd(momentum: 0.9, weightDecay: 1e-4, nesterov: false)

    /// A fresh optimiser with these settings (no state).
    public func make() -> Optimizer {
        switch self {
        case let .sgd(momentum, weightDecay, nesterov):
            return SGD(momentum: Float(momentum), weightDecay: Float(weightDecay), nesterov: nesterov)
        case let .adam(beta1, beta2, epsilon, weightDecay):
            return Adam(beta1: Float(beta1), beta2: Float(beta2), epsilon: Float(epsilon), weightDecay: Float(weightDecay))
        }
    }
}
