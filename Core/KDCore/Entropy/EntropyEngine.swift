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

    /// ½ log(2πe): the entropy of a unit Gaussian, in nats.
    public static let gaussianEntropyOffset = 0.5 * Foundation.log(2 * Double.pi * M_E)

    public init(model: Model, tap: String, settings: EntropySettings) throws {
        try settings.validate()
        self.model = model
        self.tapIndex = try model.layerIndex(tap)
        self.tapName = tap
        self.settings = settings
    }

    /// Reusable per-thread state: the model's execution context and every buffer of a step.
    public final class Workspace {
        let context: LayerContext
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
    public func analyse(_ sample: Sample, workspace ws: Workspace) throws -> EntropyResult {
        let s = settings
        guard sample.input.shape == model.inputShape else {
            throw EntropyError.shapeMismatch(inputID: sample.id, expected: model.inputShape, found: sample.input.shape)
        }
        let n = sample.input.count
        let k = s.noiseSamples
        let units = sample.units
        let unitCount = units.unitCount
        var rng = SeededGenerator(seed: s.seed, stream: Self.streamID(sample.id))

        // f* = f(x), φ(f*)
        ws.batch.resize([1] + model.inputShape)
        ws.batch.data.update(from: sample.input.data, count: n)
        let fstar = model.forward(ws.batch, ws.context, through: tapIndex)
        let featureCount = fstar.count
        ws.target.resize([featureCount])
        applyPhi(fstar.data, into: ws.target.data, count: featureCount)

        ws.noise.resize([k] + model.inputShape)
        ws.batch.resize([k] + model.inputShape)
        if ws.sigmaOfVariable.count != n { ws.sigmaOfVariable = [Float](repeating: 0, count: n) }

        // δ_f² = E‖φ(f(x + τδ)) − φ(f*)‖² (mean over feature elements and over the K samples)
        rng.fillGaussian(ws.noise.data, count: k * n)
        let x = sample.input.data
        for j in 0..<k {
            let b = ws.batch.data + j * n, d = ws.noise.data + j * n
            for v in 0..<n { b[v] = x[v] + s.tau * d[v] }
        }
        let sigmaF2 = featureError(ws, featureCount: featureCount, k: k, writeGradient: false, scale: 0)
        guard sigmaF2 > 0, sigmaF2.isFinite else { throw EntropyError.insensitiveFeature(inputID: sample.id) }

        // σ (direct) or s = log σ (log), per unit
        var param = [Float](repeating: s.parameterization == .direct ? s.initialSigma : Foundation.log(s.initialSigma),
                            count: unitCount)
        var gradSigma = [Float](repeating: 0, count: unitCount)
        var adamM = [Float](repeating: 0, count: unitCount), adamV = [Float](repeating: 0, count: unitCount)
        var sigmaHistory = [Float](repeating: 0, count: s.steps * unitCount)   // σ used at each step
        var meanH = [Double](repeating: 0, count: s.steps)
        var lossHistory = [Double](repeating: 0, count: s.steps)
        var featureHistory = [Double](repeating: 0, count: s.steps)
        var alphaHistory = [Float](repeating: 0, count: s.steps)
        var alpha = s.alpha
        var maxMeanH = -Double.infinity
        let rScale: Float = s.reduction == .mean ? 1 / Float(unitCount) : 1
        let lr = s.effectiveLearningRate
        let offset = Self.gaussianEntropyOffset
        let unitOf = units.unitOf

        for step in 0..<s.steps {
            // σ for this step (clamped in the direct parameterisation) and its entropy
            var sumLogSigma = 0.0
            for u in 0..<unitCount {
                let sigma: Float
                if s.parameterization == .direct {
                    param[u] = min(max(param[u], s.sigmaMin), s.sigmaMax)
                    sigma = param[u]
                } else {
                    sigma = Foundation.exp(param[u])
                }
                sigmaHistory[step * unitCount + u] = sigma
                sumLogSigma += Double(Foundation.log(sigma))
            }
            let mh = sumLogSigma / Double(unitCount) + offset
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
            rng.fillGaussian(ws.noise.data, count: k * n)
            ws.sigmaOfVariable.withUnsafeBufferPointer { sv in
                for j in 0..<k {
                    let b = ws.batch.data + j * n, d = ws.noise.data + j * n
                    for v in 0..<n { b[v] = x[v] + sv[v] * d[v] }
                }
            }
            let fl = featureError(ws, featureCount: featureCount, k: k, writeGradient: true,
                                  scale: Float(2 / (Double(k * featureCount) * sigmaF2)))
            let featureLoss = fl / sigmaF2
            let entropyTerm = Double(rScale) * (sumLogSigma + Double(unitCount) * offset)
            lossHistory[step] = featureLoss - Double(alpha) * entropyTerm
            featureHistory[step] = featureLoss
            guard lossHistory[step].isFinite else { throw EntropyError.nonFinite(inputID: sample.id, step: step) }

            // dLoss/dx' from the tap down, then dLoss/dσ_u = Σ_k Σ_{v∈u} dx'[k,v] δ[k,v]
            let dx = model.backward(ws.dy, ws.context, from: tapIndex, downTo: 0)
            gradSigma.withUnsafeMutableBufferPointer { g in
                for u in 0..<unitCount { g[u] = 0 }
                unitOf.withUnsafeBufferPointer { uo in
                    for j in 0..<k {
                        let gx = dx.data + j * n, d = ws.noise.data + j * n
                        for v in 0..<n { g[Int(uo[v])] += gx[v] * d[v] }
                    }
                }
            }

            // update
            if s.parameterization == .direct {
                for u in 0..<unitCount {
                    let grad = gradSigma[u] - alpha * rScale / param[u]
                    param[u] -= lr * grad
                }
            } else {
                let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
                let t = Float(step + 1)
                let c1 = 1 - Foundation.pow(b1, t), c2 = 1 - Foundation.pow(b2, t)
                for u in 0..<unitCount {
                    let sigma = sigmaHistory[step * unitCount + u]   // exp(s_u), computed at the top of the step
                    let grad = sigma * gradSigma[u] - alpha * rScale
                    adamM[u] = b1 * adamM[u] + (1 - b1) * grad
                    adamV[u] = b2 * adamV[u] + (1 - b2) * grad * grad
                    param[u] -= lr * (adamM[u] / c1) / ((adamV[u] / c2).squareRoot() + eps)
                }
            }

            // entropy pinning: raise α once if the mean H has not exceeded the target by the check step
            if let p = s.pinning, step == p.checkStep, maxMeanH <= p.target {
                alpha *= p.alphaFactor
            }
        }

        // choose the snapshot
        var chosen = s.steps - 1
        var reached = false
        if let p = s.pinning {
            var best = Double.infinity
            for t in 0..<s.steps where abs(meanH[t] - p.target) < best {
                best = abs(meanH[t] - p.target); chosen = t
            }
            reached = best <= p.tolerance
        }
        let entropies = (0..<unitCount).map { u in
            Float(Double(Foundation.log(sigmaHistory[chosen * unitCount + u])) + offset)
        }
        return EntropyResult(inputID: sample.id, entropies: entropies, sigmaF2: sigmaF2,
                          finalLoss: lossHistory[chosen], finalFeatureLoss: featureHistory[chosen],
                          chosenStep: chosen, alphaUsed: alphaHistory[chosen], meanEntropy: meanH[chosen],
                          lossFlattened: Self.flattened(lossHistory, tolerance: s.flatTolerance),
                          pinningReached: reached)
    }

    /// Runs `ws.batch` to the tap and returns mean_{k, e} (φ(f) − φ(f*))². When `writeGradient`, also
    /// writes dLoss/df = scale · (φ(f) − φ(f*)) · φ'(f) into `ws.dy`.
    private func featureError(_ ws: Workspace, featureCount e: Int, k: Int, writeGradient: Bool, scale: Float) -> Double {
        let f = model.forward(ws.batch, ws.context, through: tapIndex)
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

    /// Whether the mean loss of the last window differs from the window before by at most `tolerance`
    /// (relative). Window = 10 % of the steps, at least 2; fewer than 4 steps never count as flattened.
    static func flattened(_ loss: [Double], tolerance: Double) -> Bool {
        let w = max(2, loss.count / 10)
        guard loss.count >= 2 * w, loss.count >= 4 else { return false }
        let last = loss[(loss.count - w)...].reduce(0, +) / Double(w)
        let before = loss[(loss.count - 2 * w)..<(loss.count - w)].reduce(0, +) / Double(w)
        return abs(last - before) <= tolerance * max(abs(last), 1e-12)
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
