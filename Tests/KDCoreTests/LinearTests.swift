import KDCore
import Testing
import _TestSupport

@Suite struct LinearTests {
    @Test func forwardMatchesHandComputed() {
        var g = SeededGenerator(seed: 1)
        let l = Linear(2, 2, generator: &g)
        _ = l.weight.value.buffer.update(from: [1, 2, 3, 4])   // W = [[1,2],[3,4]]
        _ = l.bias!.value.buffer.update(from: [0.5, -1])
        let y = l.forward(Tensor(shape: [1, 2], values: [1, 1]), l.makeContext())
        #expect(y.array == [3.5, 6])
    }

    @Test func gradientsMatchFiniteDifferences() {
        var g = SeededGenerator(seed: 2)
        let l = Linear(7, 5, generator: &g)
        expectGradientsMatch(l, input: randomTensor([3, 4, 7], seed: 3))
    }

    @Test func reluAndFlattenGradients() {
        // Keep inputs away from the ReLU kink so central differences are smooth.
        let x = randomTensor([2, 3, 3, 4], seed: 4)
        for i in 0..<x.count where abs(x[i]) < 0.05 { x[i] = 0.3 }
        expectGradientsMatch(ReLU(), input: x)
        expectGradientsMatch(Flatten(), input: x)
    }

    @Test func flattenIsChannelMajor() {
        // (1, H=1, W=2, C=2): pixels p0=(a0,a1) p1=(b0,b1) → [a0, b0, a1, b1]
        let y = Flatten().forward(Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4]), LayerContext())
        #expect(y.array == [1, 3, 2, 4])
    }
}

/// The checker itself must be able to fail: a layer whose backward is off by a factor of 2.
private final class WrongScale: Layer {
    let kind = "wrong-scale"
    func outputShape(for inputShape: [Int]) -> [Int] { inputShape }
    func forward(_ x: Tensor, _ c: LayerContext) -> Tensor { let y = c.buffer(0, x.shape); y.assign(x); return y }
    func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let dx = c.buffer(1, dy.shape)
        for i in 0..<dy.count { dx[i] = 2 * dy[i] }
        return dx
    }
}

@Test func gradientCheckDetectsAWrongBackward() {
    let results = GradientCheck().run(WrongScale(), input: randomTensor([2, 5], seed: 9))
    #expect(results[0].maxRelDiff > 0.3, "the checker missed a factor-2 error: \(results[0])")
}
