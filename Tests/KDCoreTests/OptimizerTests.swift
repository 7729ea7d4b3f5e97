import KDCore
import Testing
import _TestSupport

/// One 2-element parameter w₀ = [1, −2] and the gradients of two steps, g₁ = [0.5, −1], g₂ = [0.25, 0.5].
private func twoSteps(_ optimizer: Optimizer, lr: Float = 0.1) -> [(w: [Float], delta: Float)] {
    let p = Parameter("w", shape: [2])
    _ = p.value.buffer.update(from: [1, -2])
    var out: [(w: [Float], delta: Float)] = []
    for g in [[Float(0.5), -1], [0.25, 0.5]] {
        _ = p.grad.buffer.update(from: g)
        let delta = optimizer.step([("w", p)], learningRate: lr)
        out.append((p.value.array, delta[0]))
    }
    return out
}

@Suite struct OptimizerTests {
    @Test func sgdMomentumWeightDecayTwoSteps() {
        // lr 0.1, μ 0.9, wd 0.1.
        // step 1: d = g₁ + 0.1·w₀ = [0.6, −1.2]; buf = d; w₁ = w₀ − 0.1·buf = [0.94, −1.88]; ‖Δ‖ = 0.1·√1.8
        // step 2: d = g₂ + 0.1·w₁ = [0.344, 0.312]; buf = 0.9·[0.6, −1.2] + d = [0.884, −0.768];
        //         w₂ = w₁ − 0.1·buf = [0.8516, −1.8032]; ‖Δ‖ = 0.1·‖buf‖ = 0.117101665
        let r = twoSteps(SGD(momentum: 0.9, weightDecay: 0.1))
        expectClose(r[0].w, [0.94, -1.88], rtol: 1e-6, atol: 1e-6, "SGD step 1")
        expectClose(r[1].w, [0.8516, -1.8032], rtol: 1e-6, atol: 1e-6, "SGD step 2")
        expectClose([r[0].delta, r[1].delta], [0.134164079, 0.117101665], rtol: 1e-5, atol: 1e-6, "SGD ‖Δw‖")
    }

    @Test func sgdNesterovAndPlain() {
        // Nesterov: w −= lr·(d + μ·buf). Step 1: d + 0.9·d = 1.9·[0.6, −1.2] → w₁ = [0.886, −1.772].
        // Step 2: d = [0.3386, 0.3228]; buf = [0.8786, −0.7572]; d + 0.9·buf = [1.12934, −0.35868].
        let n = twoSteps(SGD(momentum: 0.9, weightDecay: 0.1, nesterov: true))
        expectClose(n[0].w, [0.886, -1.772], rtol: 1e-6, atol: 1e-6, "Nesterov step 1")
        expectClose(n[1].w, [0.773066, -1.736132], rtol: 1e-6, atol: 1e-6, "Nesterov step 2")
        // No momentum: w₂ = w₁ − 0.1·[0.344, 0.312].
        let p = twoSteps(SGD(momentum: 0, weightDecay: 0.1))
        expectClose(p[1].w, [0.9056, -1.9112], rtol: 1e-6, atol: 1e-6, "plain SGD step 2")
        expectClose([p[1].delta], [0.0464413609], rtol: 1e-5, atol: 1e-6, "plain SGD ‖Δw‖")
    }

    /// The 8-lane momentum update against the rule written out one element at a time, on 2 061
    /// weights (two blocks of 1 024, a partial vector and a scalar tail): the weights and buffers must be
    /// identical, the norm equal up to summation order.
    @Test(arguments: [false, true])
    func sgdVectorisedMomentumMatchesScalarRule(_ nesterov: Bool) {
        let n = 2061
        let p = Parameter("w", shape: [n])
        _ = p.value.buffer.update(from: randomTensor([n], seed: 3).array)
        var w = p.value.array, buf = [Float](repeating: 0, count: n)
        let (lr, mu, wd): (Float, Float, Float) = (0.05, 0.9, 0.01)
        let sgd = SGD(momentum: mu, weightDecay: wd, nesterov: nesterov)
        for step in 0..<3 {
            let g = randomTensor([n], seed: 10 + UInt64(step)).array
            _ = p.grad.buffer.update(from: g)
            let norm = sgd.step([("w", p)], learningRate: lr)[0]
            var sumSquares = 0.0
            for i in 0..<n {
                let old = w[i]
                let d = g[i] + wd * old
                buf[i] = step == 0 ? d : mu * buf[i] + d
                w[i] = old - lr * (nesterov ? d + mu * buf[i] : buf[i])
                sumSquares += (Double(w[i]) - Double(old)) * (Double(w[i]) - Double(old))
            }
            #expect(p.value.array == w, "step \(step + 1) weights")
            #expect(sgd.state[0].1.array == buf, "step \(step + 1) momentum buffer")
            expectClose(Double(norm), sumSquares.squareRoot(), tol: 1e-5 * sumSquares.squareRoot(), "step \(step + 1) ‖Δw‖")
        }
    }

    @Test func adamTwoSteps() {
        // lr 0.1, β (0.9, 0.999). Step 1: m̂ = g₁, v̂ = g₁², so w₁ = w₀ − 0.1·sign(g₁) = [0.9, −1.9].
        // Step 2: m = [0.07, −0.04], v = [0.00031225, 0.001249]; m̂ = m/0.19, v̂ = v/0.001999;
        //         w₂ = w₁ − 0.1·m̂/(√v̂ + ε) = [0.80678204, −1.8733663].
        let r = twoSteps(Adam())
        expectClose(r[0].w, [0.9, -1.9], rtol: 1e-6, atol: 1e-6, "Adam step 1")
        expectClose(r[1].w, [0.80678204, -1.8733663], rtol: 1e-6, atol: 1e-6, "Adam step 2")
        expectClose([r[0].delta, r[1].delta], [0.141421354, 0.0969481435], rtol: 1e-5, atol: 1e-6, "Adam ‖Δw‖")
        // L2 weight decay 0.5 enters the gradient: d₁ = g₁ + 0.5·w₀ = [1, −2], d₂ = g₂ + 0.5·w₁.
        let wd = twoSteps(Adam(weightDecay: 0.5))
        expectClose(wd[1].w, [0.80242795, -1.81828755], rtol: 1e-6, atol: 1e-6, "Adam wd step 2")
    }

    @Test func frozenParametersAreSkipped() {
        for optimizer in [SGD(momentum: 0.9, weightDecay: 0.1), Adam(weightDecay: 0.1)] as [Optimizer] {
            let a = Parameter("a", shape: [2]), b = Parameter("b", shape: [2])
            _ = a.value.buffer.update(from: [1, 2]); _ = b.value.buffer.update(from: [3, 4])
            a.grad.fill(1); b.grad.fill(1)
            b.frozen = true
            let deltas = optimizer.step([("a", a), ("b", b)], learningRate: 0.1)
            #expect(deltas[1] == 0 && deltas[0] > 0)
            #expect(b.value.array == [3, 4])
            #expect(!optimizer.state.contains { $0.0.hasPrefix("b.") }, "a frozen parameter got optimiser state")
        }
    }

    @Test func stateRoundTripContinuesBitIdentically() throws {
        for make in [{ SGD(momentum: 0.9, weightDecay: 0.1) as Optimizer }, { Adam(weightDecay: 0.01) as Optimizer }] {
            let p = Parameter("layer.w", shape: [3])
            _ = p.value.buffer.update(from: [0.3, -0.7, 1.1])
            let continuing = make()
            _ = p.grad.buffer.update(from: [0.2, 0.1, -0.4])
            _ = continuing.step([("layer.w", p)], learningRate: 0.05)
            let saved = continuing.state
            let afterOne = p.value.array
            _ = p.grad.buffer.update(from: [-0.3, 0.6, 0.2])
            _ = continuing.step([("layer.w", p)], learningRate: 0.05)
            let expected = p.value.array

            let resumed = make()
            try resumed.setState(saved, parameters: [("layer.w", p)])
            _ = p.value.buffer.update(from: afterOne)
            _ = resumed.step([("layer.w", p)], learningRate: 0.05)
            #expect(p.value.array.map(\.bitPattern) == expected.map(\.bitPattern))
        }
    }

    @Test func stateForAnotherModelIsRejected() {
        let p = Parameter("w", shape: [2])
        let sgd = SGD(momentum: 0.9)
        #expect(throws: OptimizerStateError.shapeMismatch(tensor: "w.momentum_buffer", expected: [2], found: [3])) {
            try sgd.setState([("w.momentum_buffer", Tensor(shape: [3]))], parameters: [("w", p)])
        }
        #expect(throws: OptimizerStateError.unknownTensor("v.momentum_buffer", knownSlots: ["momentum_buffer"])) {
            try sgd.setState([("v.momentum_buffer", Tensor(shape: [2]))], parameters: [("w", p)])
        }
        let adam = Adam()
        #expect(throws: OptimizerStateError.self) {
            try adam.setState([("w.exp_avg", Tensor(shape: [2]))], parameters: [("w", p)])   // no exp_avg_sq, step
        }
    }
}
