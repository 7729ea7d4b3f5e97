import Foundation

/// Learns, for every input unit, how much of its information the network discards up to a tap
/// (Method.md §2).
///
/// ```
/// x' = x + σ ∘ δ,  δ ~ N(0, I),  σ one value per unit
/// Loss(σ) = E_δ ‖φ(f(x')) − φ(f*)‖² / δ_f²  −  α · R_i(H_i)
/// H_i = log σ_i + ½ log(2πe)   (nats)
/// ```
///
/// The K noise samples of one step run through the network as one batch (one GEMM per layer). The
/// weights are frozen: backward computes only the gradient with respect to the input, from the tap down.
/// Several inputs run in parallel, one per core, each on its own ``Workspace`` with OpenBLAS limited to
/// one thread, so that both cores stay busy even when one input's GEMMs are small.
///
/// ### References
/// Zhang, Cheng, Chen, Rao. Quantifying the Knowledge in a DNN to Explain Knowledge Distillation for
/// Classification (arXiv 2003.03622), §3.1; and the authors' image code for the `direct` and pinning choices.
public final class EntropyEngine: @unchecked Sendable {
    public let model: Model
    public let tapIndex: Int
    public let tapName: String
    public let settings: EntropySettings
    /// The first layer run under noise: 0 when noise is added to the network's input, else the layer after
    /// the one whose output is the analysed input (a token family's word-embedding lookup).
    public let startIndex: Int
    /// What the steps run: `model` with each inference-mode BatchNorm folded into the Linear or Conv2D
    /// before it (``BatchNormFolding``; the same function, one elementwise pass less per such layer forward
    /// and backward), or `model` itself when it has none. Built at init from the weights of that moment, so
    /// an engine is created after the network's weights are loaded (as every caller does).
    let network: Model

    /// ½ log(2πe): the entropy of a unit Gaussian, in nats.
    public static let gaussianEntropyOffset = 0.5 * Foundation.log(2 * Double.pi * M_E)

    /// `analysedInput` names the layer whose output receives the noise (nil: the network's input); it must
    /// lie below the tap.
    /// `foldBatchNorm: false` runs `model` as it is (for comparisons; the result differs by rounding only).
    public init(model: Model, tap: String, settings: EntropySettings, analysedInput: String? = nil,
                foldBatchNorm: Bool = true) throws {
        try settings.validate()
        if settings.precision == .bfloat16 && !BLAS.nativeBFloat16 {
            throw EntropyError.invalidSetting(name: "precision", reason: "bf16 needs a CPU with native bfloat16 products (AVX512_BF16 or AMX); this one has none: use fp32")
        }
        self.model = model
        self.tapIndex = try model.layerIndex(tap)
        self.tapName = tap
        self.settings = settings
        self.network = foldBatchNorm ? BatchNormFolding.folded(model) : model
        if let name = analysedInput {
            let i = try model.layerIndex(name)
            guard i < tapIndex else {
                throw EntropyError.invalidSetting(name: "analysed input", reason: "layer \(name) is not below the tap \(tap)")
            }
            startIndex = i + 1
        } else {
            startIndex = 0
        }
    }

    /// Reusable per-thread state: the model's execution context and every buffer of a step.
    public final class Workspace {
        let context: LayerContext
        var input = Tensor(shape: [0])     // (n) the analysed input x
        var noise = Tensor(shape: [0])     // (K, n) δ
        var batch = Tensor(shape: [0])     // (K, n) x'
        var target = Tensor(shape: [0])    // (E) φ(f*)
        var dy = Tensor(shape: [0])        // (K, E...) dLoss/df
        var sigmaOfVariable: [Float] = []  // (n) σ broadcast over each unit's variables
        init(model: Model) {
            context = model.makeContext()
            context.parameterGradients = false
            context.inputGradient = true
            context.training = false
        }
    }

    public func makeWorkspace() -> Workspace {
        let ws = Workspace(model: network)
        ws.context.bfloat16 = settings.precision == .bfloat16
        return ws
    }

    /// Workspaces of finished ``analyse(_:threads:progress:)`` calls, reused by the next call: a
    /// workspace holds hundreds of MB at e2 sizes, and a fresh one is page-faulted in (the kernel
    /// zeroes every page), which took 7-15 % of a 15-step e2 round. The pool holds at most one
    /// workspace per thread that ran at once, for as long as the engine lives.
    private var pool: [Workspace] = []
    private let poolLock = NSLock()

    private func takeWorkspace() -> Workspace {
        poolLock.lock(); defer { poolLock.unlock() }
        return pool.popLast() ?? makeWorkspace()
    }

    private func returnWorkspace(_ ws: Workspace) {
        poolLock.lock(); defer { poolLock.unlock() }
        pool.append(ws)
    }

    /// A stable 64-bit hash of an input id (FNV-1a), to derive the input's noise stream.
    static func streamID(_ id: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in id.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    // MARK: - One input

    /// Analyses one sample. Throws ``EntropyError`` for an input that cannot be analysed.
    ///
    /// - Parameter noise: where the noise batches come from; nil (the default) is the engine's seeded
    ///   generator, one stream per input id.
    public func analyse(_ sample: Sample, workspace ws: Workspace, noise: (any EntropyNoiseSource)? = nil) throws -> EntropyResult {
        try run(sample, ws, noise, recordTrace: false).result
    }

    /// Analyses one sample and returns, with the result, the record of every step (``EntropyTrace``).
    public func trace(_ sample: Sample, workspace ws: Workspace, noise: (any EntropyNoiseSource)? = nil) throws
        -> (result: EntropyResult, trace: EntropyTrace) {
        let r = try run(sample, ws, noise, recordTrace: true)
        return (r.result, r.trace!)
    }

    /// The absolute τ for an input: ``EntropySettings/tau``, times the sample standard deviation of the
    /// input's elements (N − 1, in Double) under ``EntropySettings/TauScale/inputStandardDeviation``.
    public func absoluteTau(for input: Tensor) -> Float {
        guard settings.tauScale == .inputStandardDeviation else { return settings.tau }
        let n = input.count
        guard n > 1 else { return settings.tau }
        var mean = 0.0
        for i in 0..<n { mean += Double(input.data[i]) }
        mean /= Double(n)
        var ss = 0.0
        for i in 0..<n { let d = Double(input.data[i]) - mean; ss += d * d }
        return Float(Double(settings.tau) * (ss / Double(n - 1)).squareRoot())
    }

    /// One input, in four named steps (Method.md §2): ``prepare(_:_:drawNoise:)`` (the analysed input, its
    /// units and roles, f* and δ_f²), ``optimise(_:_:drawNoise:recordTrace:)`` (the σ steps with the pinning
    /// rule), ``chooseSnapshot(_:)`` and the result with its record.
    private func run(_ sample: Sample, _ ws: Workspace, _ source: (any EntropyNoiseSource)?, recordTrace: Bool) throws
        -> (result: EntropyResult, trace: EntropyTrace?) {
        var rng = SeededGenerator(seed: settings.seed, stream: Self.streamID(sample.id))
        func drawNoise(_ step: Int, _ count: Int) {
            if let source { source.fill(ws.noise.data, count: count, step: step) }
            else { rng.fillGaussian(ws.noise.data, count: count) }
        }
        let input = try prepare(sample, ws, drawNoise: drawNoise)
        let o = try optimise(input, ws, drawNoise: drawNoise, recordTrace: recordTrace)
        let (chosen, reached) = chooseSnapshot(o)
        let unitCount = input.unitCount, offset = Self.gaussianEntropyOffset
        // Ignored units carry 0: they have no entropy of their own (their role says so).
        let entropies = (0..<unitCount).map { u in
            input.active[u] ? Float(Double(o.logSigma[chosen * unitCount + u]) + offset) : 0
        }
        let result = EntropyResult(
            inputID: sample.id, entropies: entropies, sigmaF2: input.sigmaF2,
            finalLoss: o.loss[chosen], finalFeatureLoss: o.featureLoss[chosen],
            chosenStep: chosen, alphaUsed: o.alpha[chosen], meanEntropy: o.meanEntropy[chosen],
            lossFlattened: Self.flattened(Array(o.loss[0..<o.stepsRun]), at: chosen,
                                          window: Self.flatWindow(steps: settings.steps), tolerance: settings.flatTolerance),
            pinningReached: reached, stepsRun: o.stepsRun, stoppedEarly: o.stoppedEarly, tau: input.tau)
        guard recordTrace else { return (result, nil) }
        let trace = EntropyTrace(
            feature: Array(UnsafeBufferPointer(start: ws.target.data, count: input.featureCount)), sigmaF2: input.sigmaF2,
            tau: input.tau, meanEntropy: Array(o.meanEntropy[0..<o.stepsRun]), loss: Array(o.loss[0..<o.stepsRun]),
            featureLoss: Array(o.featureLoss[0..<o.stepsRun]), alpha: Array(o.alpha[0..<o.stepsRun]),
            snapshots: Array(o.sigma[0..<(o.stepsRun * unitCount)]), firstGradient: o.firstGradient,
            stepsRun: o.stepsRun, stoppedEarly: o.stoppedEarly, chosenStep: chosen)
        return (result, trace)
    }

    /// Runs `ws.batch` to the tap and returns mean_{k, e} (φ(f) − φ(f*))². When `writeGradient`, also
    /// writes dLoss/df = scale · (φ(f) − φ(f*)) · φ'(f) into `ws.dy`.
    func featureError(_ ws: Workspace, featureCount e: Int, k: Int, writeGradient: Bool, scale: Float) -> Double {
        let f = network.body.forward(ws.batch, ws.context, range: startIndex..<(tapIndex + 1))
        if writeGradient { ws.dy.resize(f.shape) }
        let fp = f.data, tp = ws.target.data, g = ws.dy.data
        let relu = settings.featureTransform == .relu
        var total = 0.0
        for j in 0..<k {
            var acc: Float = 0
            let row = fp + j * e, grow = g + j * e
            for i in 0..<e {
                let fi = row[i]
                let phi = relu ? max(fi, 0) : fi
                let diff = phi - tp[i]
                acc += diff * diff
                if writeGradient { grow[i] = (relu && fi <= 0) ? 0 : scale * diff }
            }
            total += Double(acc)
        }
        return total / Double(k * e)
    }

    func applyPhi(_ src: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        if settings.featureTransform == .relu {
            for i in 0..<count { dst[i] = max(src[i], 0) }
        } else {
            dst.update(from: src, count: count)
        }
    }

    /// The convergence window w = max(2, ⌊T/10⌋) for a run of T planned steps (8 for the authors' 80).
    public static func flatWindow(steps: Int) -> Int { max(2, steps / 10) }

    /// Whether the loss had flattened at step `t` (Method.md §2 "Convergence").
    ///
    /// ```
    /// A = mean(loss[t−w+1 ... t]),   B = mean(loss[t−2w+1 ... t−w])
    /// flattened  ⇔  t ≥ 2w − 1  and  |A − B| ≤ tolerance · max(|A|, |B|)
    /// ```
    /// The two windows average out the step-to-step noise of the K-sample loss estimate. The judgement is
    /// made at the chosen snapshot, not at the last step: a snapshot picked early by pinning (the authors'
    /// early stop often picks a step near 10) has no 2w steps of history and counts as not flattened,
    /// because nothing shows that the loss had stopped falling there. With the defaults (w = 8, 2 %), a
    /// loss still falling by more than about 0.25 % a step fails.
    public static func flattened(_ loss: [Double], at t: Int, window w: Int, tolerance: Double) -> Bool {
        guard w >= 1, t >= 2 * w - 1, t < loss.count else { return false }
        let last = loss[(t - w + 1)...t].reduce(0, +) / Double(w)
        let before = loss[(t - 2 * w + 1)...(t - w)].reduce(0, +) / Double(w)
        guard last.isFinite, before.isFinite else { return false }
        return abs(last - before) <= tolerance * max(abs(last), abs(before))
    }

    // MARK: - Many inputs in parallel

    /// Analyses `samples` on `threads` threads (one input per thread at a time, OpenBLAS single-threaded),
    /// calling `progress(done, total)` after each. The results are in input order; an input that cannot be
    /// analysed yields its error, and the others go on.
    public func analyse(_ samples: [Sample], threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                        progress: (@Sendable (Int, Int) -> Void)? = nil) -> [Result<EntropyResult, EntropyError>] {
        let count = samples.count
        if count == 0 { return [] }
        let workers = max(1, min(threads, count))
        let results = UnsafeMutablePointer<Result<EntropyResult, EntropyError>?>.allocate(capacity: count)
        results.initialize(repeating: nil, count: count)
        defer { results.deinitialize(count: count); results.deallocate() }
        let lock = NSLock()
        var next = 0, done = 0
        let previousThreads = BLAS.threads
        // One input per core when there are enough inputs; otherwise let OpenBLAS use the cores.
        BLAS.threads = workers > 1 ? 1 : previousThreads
        defer { BLAS.threads = previousThreads }
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let ws = takeWorkspace()
            defer { returnWorkspace(ws) }
            while true {
                lock.lock(); let i = next; next += 1; lock.unlock()
                if i >= count { break }
                let r: Result<EntropyResult, EntropyError>
                do { r = .success(try analyse(samples[i], workspace: ws)) }
                catch let e as EntropyError { r = .failure(e) }
                catch { r = .failure(.nonFinite(inputID: samples[i].id, step: -1)) }
                results[i] = r
                lock.lock(); done += 1; let d = done; lock.unlock()
                progress?(d, count)
            }
        }
        return (0..<count).map { results[$0]! }
    }
}
