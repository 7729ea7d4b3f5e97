import Foundation

// The steps of one input's analysis (Method.md §2), in the order `EntropyEngine.run` calls them.

extension EntropyEngine {
    /// The analysed input in the workspace (`ws.input`, `ws.target` = φ(f*)), and what the σ steps need.
    struct PreparedInput {
        let inputID: String
        /// Variables of the analysed input, and its shape (no batch axis).
        let n: Int
        let shape: [Int]
        let unitCount: Int
        /// The unit of every analysed-input variable.
        let unitOf: [Int32]
        /// Units that take part (not ignored), and how many.
        let active: [Bool]
        let activeCount: Int
        let featureCount: Int
        /// τ as used (absolute), and δ_f².
        let tau: Float
        let sigmaF2: Double
    }

    /// Every step's σ and its loss: what the snapshot is chosen from, and the trace.
    struct Optimisation {
        /// σ and log σ of each step, step-major (`steps × units`).
        var sigma: [Float]
        var logSigma: [Float]
        var meanEntropy: [Double]
        var loss: [Double]
        var featureLoss: [Double]
        var alpha: [Float]
        /// ∂Loss/∂σ (direct) or ∂Loss/∂s (log) of step 0, when recorded.
        var firstGradient: [Float] = []
        var stepsRun = 0
        var stoppedEarly = false
    }

    /// Step 1: the analysed input x (the sample, or the output of the layer below `startIndex`, computed
    /// once), each variable's unit and role, f* = f(x) with φ(f*), and δ_f² = E‖φ(f(x + τδ)) − φ(f*)‖²
    /// (mean over feature elements and the K samples; τ scaled by std(x) when the setting asks).
    func prepare(_ sample: Sample, _ ws: Workspace, drawNoise: (_ step: Int, _ count: Int) -> Void) throws -> PreparedInput {
        guard sample.input.shape == model.inputShape else {
            throw EntropyError.shapeMismatch(inputID: sample.id, expected: model.inputShape, found: sample.input.shape)
        }
        let k = settings.noiseSamples
        let units = sample.units
        // Padded samples: layers that mix positions see the real length (of x alone, then of every noisy copy).
        ws.context.validLengths = sample.length.map { [$0] }
        ws.batch.resize([1] + model.inputShape)
        ws.batch.data.update(from: sample.input.data, count: sample.input.count)
        if startIndex > 0 {
            let h = network.body.forward(ws.batch, ws.context, range: 0..<startIndex)
            ws.input.resize(Array(h.shape.dropFirst()))
            ws.input.data.update(from: h.data, count: h.count)
        } else {
            ws.input.resize(model.inputShape)
            ws.input.data.update(from: sample.input.data, count: sample.input.count)
        }
        let n = ws.input.count
        let shape = ws.input.shape
        // Each variable of the sample covers `spread` consecutive variables of the analysed input (1 for
        // raw inputs; the embedding width for token ids).
        guard units.variableCount > 0, n % units.variableCount == 0 else {
            throw EntropyError.shapeMismatch(inputID: sample.id, expected: [units.variableCount], found: shape)
        }
        let spread = n / units.variableCount
        let unitOf: [Int32] = spread == 1 ? units.unitOf : units.unitOf.flatMap { [Int32](repeating: $0, count: spread) }
        // Ignored units (padding, [CLS]/[SEP], …) get no noise and no part in the entropy terms.
        let active = sample.roles.map { $0 != .ignored }
        let activeCount = active.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard activeCount > 0 else { throw EntropyError.noAnalysedUnits(inputID: sample.id) }

        // f* = f(x), φ(f*)
        ws.batch.resize([1] + shape)
        ws.batch.data.update(from: ws.input.data, count: n)
        let fstar = network.body.forward(ws.batch, ws.context, range: startIndex..<(tapIndex + 1))
        let featureCount = fstar.count
        ws.target.resize([featureCount])
        applyPhi(fstar.data, into: ws.target.data, count: featureCount)
        ws.context.validLengths = sample.length.map { [Int](repeating: $0, count: k) }
        ws.noise.resize([k] + shape)
        ws.batch.resize([k] + shape)
        if ws.sigmaOfVariable.count != n { ws.sigmaOfVariable = [Float](repeating: 0, count: n) }

        // δ_f²
        let x = ws.input.data
        let tau = absoluteTau(for: ws.input)
        guard tau > 0, tau.isFinite else { throw EntropyError.insensitiveFeature(inputID: sample.id) }
        drawNoise(-1, k * n)
        for j in 0..<k {
            let b = ws.batch.data + j * n, d = ws.noise.data + j * n
            for v in 0..<n { b[v] = x[v] + tau * d[v] }
        }
        let sigmaF2 = featureError(ws, featureCount: featureCount, k: k, writeGradient: false, scale: 0)
        guard sigmaF2 > 0, sigmaF2.isFinite else { throw EntropyError.insensitiveFeature(inputID: sample.id) }
        return PreparedInput(inputID: sample.id, n: n, shape: shape, unitCount: units.unitCount, unitOf: unitOf, active: active,
                             activeCount: activeCount, featureCount: featureCount, tau: tau, sigmaF2: sigmaF2)
    }

    /// Step 2: the σ optimisation. σ (direct: clamped, plain SGD) or s = log σ (log: Adam), K fresh noise
    /// samples per step, and the authors' pinning rule at the check step: stop early when the mean H has
    /// exceeded the target, else raise α once for the remaining steps.
    func optimise(_ p: PreparedInput, _ ws: Workspace, drawNoise: (_ step: Int, _ count: Int) -> Void,
                  recordTrace: Bool) throws -> Optimisation {
        let s = settings, k = s.noiseSamples, n = p.n, unitCount = p.unitCount, active = p.active
        let direct = s.parameterization == .direct
        // With τ relative to the input's spread, σ₀ is too (s starts at log(σ₀·std(x)), Method.md §2).
        let sigma0 = s.tauScale == .absolute ? s.initialSigma : s.initialSigma * p.tau / s.tau
        var param = [Float](repeating: direct ? sigma0 : Foundation.log(sigma0), count: unitCount)
        var gradSigma = [Float](repeating: 0, count: unitCount)
        var adamM = [Float](repeating: 0, count: unitCount), adamV = [Float](repeating: 0, count: unitCount)
        var o = Optimisation(sigma: [Float](repeating: 0, count: s.steps * unitCount),
                             logSigma: [Float](repeating: 0, count: s.steps * unitCount),
                             meanEntropy: [Double](repeating: 0, count: s.steps), loss: [Double](repeating: 0, count: s.steps),
                             featureLoss: [Double](repeating: 0, count: s.steps), alpha: [Float](repeating: 0, count: s.steps))
        var alpha = s.alpha
        var maxMeanH = -Double.infinity
        let rScale: Float = s.reduction == .mean ? 1 / Float(p.activeCount) : 1
        let minusLR = -s.effectiveLearningRate
        let offset = Self.gaussianEntropyOffset
        let x = ws.input.data

        for step in 0..<s.steps {
            // σ for this step (clamped in place in the direct parameterisation) and its entropy
            var sumLogSigma = 0.0
            for u in 0..<unitCount {
                guard active[u] else { o.sigma[step * unitCount + u] = 0; o.logSigma[step * unitCount + u] = 0; continue }
                let sigma: Float, logSigma: Float
                if direct {
                    param[u] = min(max(param[u], s.sigmaMin), s.sigmaMax)
                    sigma = param[u]
                    logSigma = Foundation.log(sigma)
                } else {
                    sigma = Foundation.exp(param[u])
                    logSigma = param[u]
                }
                o.sigma[step * unitCount + u] = sigma
                o.logSigma[step * unitCount + u] = logSigma
                sumLogSigma += Double(logSigma)
            }
            let mh = sumLogSigma / Double(p.activeCount) + offset
            o.meanEntropy[step] = mh
            maxMeanH = max(maxMeanH, mh)
            o.alpha[step] = alpha
            o.sigma.withUnsafeBufferPointer { hist in
                let sig = hist.baseAddress! + step * unitCount
                ws.sigmaOfVariable.withUnsafeMutableBufferPointer { sv in
                    p.unitOf.withUnsafeBufferPointer { uo in
                        for v in 0..<n { sv[v] = sig[Int(uo[v])] }
                    }
                }
            }

            // x' = x + σ ∘ δ for K fresh samples
            drawNoise(step, k * n)
            ws.sigmaOfVariable.withUnsafeBufferPointer { sv in
                for j in 0..<k {
                    let b = ws.batch.data + j * n, d = ws.noise.data + j * n
                    for v in 0..<n { b[v] = x[v] + sv[v] * d[v] }
                }
            }
            let fl = featureError(ws, featureCount: p.featureCount, k: k, writeGradient: true,
                                  scale: Float(2 / (Double(k * p.featureCount) * p.sigmaF2)))
            let featureLoss = fl / p.sigmaF2
            let entropyTerm = Double(rScale) * (sumLogSigma + Double(p.activeCount) * offset)
            o.loss[step] = featureLoss - Double(alpha) * entropyTerm
            o.featureLoss[step] = featureLoss
            o.stepsRun = step + 1
            guard o.loss[step].isFinite else { throw EntropyError.nonFinite(inputID: p.inputID, step: step) }

            // dLoss/dx' from the tap down, then dLoss/dσ_u = Σ_k Σ_{v∈u} dx'[k,v] δ[k,v]
            let dx = network.backward(ws.dy, ws.context, from: tapIndex, downTo: startIndex)
            gradSigma.withUnsafeMutableBufferPointer { g in
                for u in 0..<unitCount { g[u] = 0 }
                p.unitOf.withUnsafeBufferPointer { uo in
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
                    if recordTrace && step == 0 { o.firstGradient.append(grad) }
                    param[u] = param[u].addingProduct(minusLR, grad)
                }
            } else {
                let b1: Float = 0.9, b2: Float = 0.999, eps: Float = 1e-8
                let t = Float(step + 1)
                let c1 = 1 - Foundation.pow(b1, t), c2 = 1 - Foundation.pow(b2, t)
                for u in 0..<unitCount where active[u] {
                    let sigma = o.sigma[step * unitCount + u]   // exp(s_u), computed at the top of the step
                    let grad = sigma * gradSigma[u] - alpha * rScale
                    if recordTrace && step == 0 { o.firstGradient.append(grad) }
                    adamM[u] = b1 * adamM[u] + (1 - b1) * grad
                    adamV[u] = b2 * adamV[u] + (1 - b2) * grad * grad
                    param[u] = param[u].addingProduct(minusLR, (adamM[u] / c1) / ((adamV[u] / c2).squareRoot() + eps))
                }
            }

            // entropy pinning at the check step
            if let pin = s.pinning, step == pin.checkStep {
                if maxMeanH > pin.target {
                    if pin.earlyStop && step + 1 < s.steps { o.stoppedEarly = true; break }
                } else {
                    alpha *= pin.alphaFactor
                }
            }
        }
        return o
    }

    /// Step 3: the snapshot among the steps that ran — with pinning, the first closest to the target (and
    /// whether it is within tolerance); without, the last.
    func chooseSnapshot(_ o: Optimisation) -> (chosen: Int, reached: Bool) {
        guard let p = settings.pinning else { return (o.stepsRun - 1, false) }
        var chosen = o.stepsRun - 1, best = Double.infinity
        for t in 0..<o.stepsRun where abs(o.meanEntropy[t] - p.target) < best {
            best = abs(o.meanEntropy[t] - p.target); chosen = t
        }
        return (chosen, best <= p.tolerance)
    }
}
