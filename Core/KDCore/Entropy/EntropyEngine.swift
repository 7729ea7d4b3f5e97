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

    /// ½ log(2πe): the entropy of a unit Gaussian, in nats.
    public static let gaussianEntropyOffset = 0.5 * Foundation.log(2 * Double.pi * M_E)

    /// `analysedInput` names the layer whose output receives the noise (nil: the network's input); it must
    /// lie below the tap.
    public init(model: Model, tap: String, settings: EntropySettings, analysedInput: String? = nil) throws {
        try settings.validate()
        self.model = model
        self.tapIndex = try model.layerIndex(tap)
        self.tapName = tap
        self.settings = settings
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

    public func makeWorkspace() -> Workspace { Workspace(model: model) }

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

    private func run(_ sample: Sample, _ ws: Workspace, _ source: (any EntropyNoiseSource)?, recordTrace: Bool) throws
        -> (result: EntropyResult, trace: EntropyTrace?) {
        let s = settings
        guard sample.input.shape == model.inputShape else {
            throw EntropyError.shapeMismatch(inputID: sample.id, expected: model.inputShape, found: sample.input.shape)
        }
        let k = s.noiseSamples
        let units = sample.units
        let unitCount = units.unitCount
        var rng = SeededGenerator(seed: s.seed, stream: Self.streamID(sample.id))
        // Padded samples: layers that mix positions see the real length (of x alone, then of every noisy copy).
        ws.context.validLengths = sample.length.map { [$0] }

        // The analysed input x: the sample itself, or the output of the layer below `startIndex` (computed
        // once; the layers below it are not run again).
        ws.batch.resize([1] + model.inputShape)
        ws.batch.data.update(from: sample.input.data, count: sample.input.count)
        if startIndex > 0 {
            let h = model.body.forward(ws.batch, ws.context, range: 0..<startIndex)
            ws.input.resize(Array(h.shape.dropFirst()))
            ws.input.data.update(from: h.data, count: h.count)
        } else {
            ws.input.resize(model.inputShape)
            ws.input.data.update(from: sample.input.data, count: sample.input.count)
        }
        let n = ws.input.count
        let inputShape = ws.input.shape
        // Each variable of the sample covers `spread` consecutive variables of the analysed input (1 for
        // raw inputs; the embedding width for token ids).
        guard units.variableCount > 0, n % units.variableCount == 0 else {
            throw EntropyError.shapeMismatch(inputID: sample.id, expected: [units.variableCount], found: inputShape)
        }
        let spread = n / units.variableCount
        let unitOf: [Int32] = spread == 1 ? units.unitOf : units.unitOf.flatMap { [Int32](repeating: $0, count: spread) }
        // Ignored units (padding, [CLS]/[SEP], …) get no noise and no part in the entropy terms.
        let active = sample.roles.map { $0 != .ignored }
        let activeCount = active.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard activeCount > 0 else { throw EntropyError.noAnalysedUnits(inputID: sample.id) }
        func drawNoise(step: Int) {
            if let source { source.fill(ws.noise.data, count: k * n, step: step) }
            else { rng.fillGaussian(ws.noise.data, count: k * n) }
        }

        // f* = f(x), φ(f*)
        ws.batch.resize([1] + inputShape)
        ws.batch.data.update(from: ws.input.data, count: n)
        let fstar = model.body.forward(ws.batch, ws.context, range: startIndex..<(tapIndex + 1))
        let featureCount = fstar.count
        ws.target.resize([featureCount])
        applyPhi(fstar.data, into: ws.target.data, count: featureCount)
        ws.context.validLengths = sample.length.map { [Int](repeating: $0, count: k) }

        ws.noise.resize([k] + inputShape)
        ws.batch.resize([k] + inputShape)
        if ws.sigmaOfVariable.count != n { ws.sigmaOfVariable = [Float](repeating: 0, count: n) }

        // δ_f² = E‖φ(f(x + τδ)) − φ(f*)‖² (mean over feature elements and over the K samples); τ is scaled
        // by the analysed input's standard deviation when the setting asks for it (Docs/Method.md §2).
        let x = ws.input.data
        let tau = absoluteTau(for: ws.input)
        guard tau > 0, tau.isFinite else { throw EntropyError.insensitiveFeature(inputID: sample.id) }
        drawNoise(step: -1)
        for j in 0..<k {
            let b = ws.batch.data + j * n, d = ws.noise.data + j * n
            for v in 0..<n { b[v] = x[v] + tau * d[v] }
        }
        let sigmaF2 = featureError(ws, featureCount: featureCount, k: k, writeGradient: false, scale: 0)
        guard sigmaF2 > 0, sigmaF2.isFinite else { throw EntropyError.insensitiveFeature(inputID: sample.id) }

        // σ (direct) or s = log σ (log), per unit
        // With τ relative to the input's spread, σ₀ is too (s starts at log(σ₀·std(x)), Docs/Method.md §2).
        let direct = s.parameterization == .direct
        let sigma0 = s.tauScale == .absolute ? s.initialSigma : s.initialSigma * tau / s.tau
        var param = [Float](repeating: direct ? sigma0 : Foundation.log(sigma0), count: unitCount)
        var gradSigma = [Float](repeating: 0, count: unitCount)
        var firstGradient: [Float] = []
        var adamM = [Float](repeating: 0, count: unitCount), adamV = [Float](repeating: 0, count: unitCount)
        var sigmaHistory = [Float](repeating: 0, count: s.steps * unitCount)      // σ used at each step
        var logSigmaHistory = [Float](repeating: 0, count: s.steps * unitCount)   // its log (s itself for `log`)
        var meanH = [Double](repeating: 0, count: s.steps)
        var lossHistory = [Double](repeating: 0, count: s.steps)
        var featureHistory = [Double](repeating: 0, count: s.steps)
        var alphaHistory = [Float](repeating: 0, count: s.steps)
        var alpha = s.alpha
        var maxMeanH = -Double.infinity
        var stepsRun = 0, stoppedEarly = false
        let rScale: Float = s.reduction == .mean ? 1 / Float(activeCount) : 1
        let minusLR = -s.effectiveLearningRate
        let offset = Self.gaussianEntropyOffset

        for step in 0..<s.steps {
            // σ for this step (clamped in place in the direct parameterisation) and its entropy
            var sumLogSigma = 0.0
            for u in 0..<unitCount {
                guard active[u] else {
                    sigmaHistory[step * unitCount + u] = 0; logSigmaHistory[step * unitCount + u] = 0; continue
                }
                let sigma: Float, logSigma: Float
                if direct {
                    param[u] = min(max(param[u], s.sigmaMin), s.sigmaMax)
                    sigma = param[u]
                    logSigma = Foundation.log(sigma)
                } else {
                    sigma = Foundation.exp(param[u])
                    logSigma = param[u]
                }
                sigmaHistory[step * unitCount + u] = sigma
                logSigmaHistory[step * unitCount + u] = logSigma
                sumLogSigma += Double(logSigma)
            }
            let mh = sumLogSigma / Double(activeCount) + offset
            meanH[step] = mh
            maxMeanH = max(maxMeanH, mh)
            alphaHistory[step] = alpha
            sigmaHistory.withUnsafeBufferPointer { hist in
                let sig = hist.baseAddress! + step * unitCount
                ws.sigmaOfVariable.withUnsafeMutableBufferPointer { sv in
                    unitOf.withUnsafeBufferPointer { uo in
                        for v in 0..<n { sv[v] = sig[Int(uo[v])] }
                    }
                }
            }

            // x' = x + σ ∘ δ for K fresh samples
            drawNoise(step: step)
            ws.sigmaOfVariable.withUnsafeBufferPointer { sv in
                for j in 0..<k {
                    let b = ws.batch.data + j * n, d = ws.noise.data + j * n
                    for v in 0..<n { b[v] = x[v] + sv[v] * d[v] }
                }
            }
            let fl = featureError(ws, featureCount: featureCount, k: k, writeGradient: true,
                                  scale: Float(2 / (Double(k * featureCount) * sigmaF2)))
            let featureLoss = fl / sigmaF2
            let entropyTerm = Double(rScale) * (sumLogSigma + Double(activeCount) * offset)
            lossHistory[step] = featureLoss - Double(alpha) * entropyTerm
            featureHistory[step] = featureLoss
            stepsRun = step + 1
            guard lossHistory[step].isFinite else { throw EntropyError.nonFinite(inputID: sample.id, step: step) }

            // dLoss/dx' from the tap down, then dLoss/dσ_u = Σ_k Σ_{v∈u} dx'[k,v] δ[k,v]
            let dx = model.backward(ws.dy, ws.context, from: tapIndex, downTo: startIndex)
            gradSigma.withUnsafeMutableBufferPointer { g in
                for u in 0..<unitCount { g[u] = 0 }
                unitOf.withUnsafeBufferPointer { uo in
                    for j in 0..<k {
                        let gx = dx.data + j * n, d = ws.noise.data + j * n
                        for v in 0..<n { g[Int(uo[v])] += gx[v] * d[v] }
                    }
                }
            }

            // update: projected SGD on σ (one fused multiply-add, σ + (−lr)·g, as the reference), or Adam on s
            if direct {
                for u in 0..<unitCount where active[u] {
                    let grad = gradSigma[u] - alpha * rScale / param[u]
                    if recordTrace && step == 0 { firstGradient.append(grad) }
                    param[u] = param[u].addingProduct(minusLR, grad)
                }
            } else {
                let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
                let t = Float(step + 1)
                let c1 = 1 - Foundation.pow(b1, t), c2 = 1 - Foundation.pow(b2, t)
                for u in 0..<unitCount where active[u] {
                    let sigma = sigmaHistory[step * unitCount + u]   // exp(s_u), computed at the top of the step
                    let grad = sigma * gradSigma[u] - alpha * rScale
                    if recordTrace && step == 0 { firstGradient.append(grad) }
                    adamM[u] = b1 * adamM[u] + (1 - b1) * grad
                    adamV[u] = b2 * adamV[u] + (1 - b2) * grad * grad
                    param[u] = param[u].addingProduct(minusLR, (adamM[u] / c1) / ((adamV[u] / c2).squareRoot() + eps))
                }
            }

            // entropy pinning at the check step: stop when the mean H has exceeded the target (authors'
            // early stop), else raise α once for the remaining steps
            if let p = s.pinning, step == p.checkStep {
                if maxMeanH > p.target {
                    if p.earlyStop && step + 1 < s.steps { stoppedEarly = true; break }
                } else {
                    alpha *= p.alphaFactor
                }
            }
        }

        // choose the snapshot among the steps that ran: the first closest to the target
        var chosen = stepsRun - 1
        var reached = false
        if let p = s.pinning {
            var best = Double.infinity
            for t in 0..<stepsRun where abs(meanH[t] - p.target) < best {
                best = abs(meanH[t] - p.target); chosen = t
            }
            reached = best <= p.tolerance
        }
        // Ignored units carry 0: they have no entropy of their own (their role says so).
        let entropies = (0..<unitCount).map { u in
            active[u] ? Float(Double(logSigmaHistory[chosen * unitCount + u]) + offset) : 0
        }
        let result = EntropyResult(
            inputID: sample.id, entropies: entropies, sigmaF2: sigmaF2,
            finalLoss: lossHistory[chosen], finalFeatureLoss: featureHistory[chosen],
            chosenStep: chosen, alphaUsed: alphaHistory[chosen], meanEntropy: meanH[chosen],
            lossFlattened: Self.flattened(Array(lossHistory[0..<stepsRun]), at: chosen,
                                          window: Self.flatWindow(steps: s.steps), tolerance: s.flatTolerance),
            pinningReached: reached, stepsRun: stepsRun, stoppedEarly: stoppedEarly, tau: tau)
        guard recordTrace else { return (result, nil) }
        let trace = EntropyTrace(
            feature: Array(UnsafeBufferPointer(start: ws.target.data, count: featureCount)), sigmaF2: sigmaF2, tau: tau,
            meanEntropy: Array(meanH[0..<stepsRun]), loss: Array(lossHistory[0..<stepsRun]),
            featureLoss: Array(featureHistory[0..<stepsRun]), alpha: Array(alphaHistory[0..<stepsRun]),
            snapshots: Array(sigmaHistory[0..<(stepsRun * unitCount)]), firstGradient: firstGradient,
            stepsRun: stepsRun, stoppedEarly: stoppedEarly, chosenStep: chosen)
        return (result, trace)
    }

    /// Runs `ws.batch` to the tap and returns mean_{k, e} (φ(f) − φ(f*))². When `writeGradient`, also
    /// writes dLoss/df = scale · (φ(f) − φ(f*)) · φ'(f) into `ws.dy`.
    private func featureError(_ ws: Workspace, featureCount e: Int, k: Int, writeGradient: Bool, scale: Float) -> Double {
        let f = model.body.forward(ws.batch, ws.context, range: startIndex..<(tapIndex + 1))
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

    private func applyPhi(_ src: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
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
