import Foundation
import KDCore
import Testing
import _TestSupport
@testable import PointCloud

@Suite struct EdgeConvTests {
    /// Points on a coarse lattice with small jitter: neighbour sets and maxima do not change under the
    /// finite-difference step, so the piecewise-smooth layer is differentiable where it is checked.
    func lattice(batch: Int, points: Int, channels: Int, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let x = Tensor(shape: [batch, points, channels])
        for i in 0..<x.count { x.data[i] = Float((i * 7919) % 11) * 0.5 + 0.05 * g.gaussian() }
        return x
    }

    @Test func forwardMatchesTheDefinitionOnEdges() throws {
        var g = SeededGenerator(seed: 3)
        let layer = EdgeConv(3, 5, neighbours: 4, generator: &g)
        let x = lattice(batch: 2, points: 20, channels: 3, seed: 1)
        let y = layer.forward(x, layer.makeContext())
        // Brute force: kNN by sorting distances, then the max over edges of ReLU(W [x_i, x_j − x_i] + b).
        let w = layer.weight.value.array, b = layer.bias.value.array
        for s in 0..<2 {
            for i in 0..<20 {
                func point(_ j: Int) -> [Float] { (0..<3).map { x.data[(s * 20 + j) * 3 + $0] } }
                let xi = point(i)
                let order = (0..<20).sorted { a, c in
                    let da = zip(point(a), xi).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                    let dc = zip(point(c), xi).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                    return a == i || (c != i && (da, a) < (dc, c))
                }
                for o in 0..<5 {
                    var best = -Float.infinity
                    for j in order.prefix(4) {
                        let xj = point(j)
                        var v = b[o]
                        for k in 0..<3 { v += w[o * 6 + k] * xi[k] + w[o * 6 + 3 + k] * (xj[k] - xi[k]) }
                        best = max(best, max(0, v))
                    }
                    #expect(abs(y.data[(s * 20 + i) * 5 + o] - best) < 1e-4, "point \(i) channel \(o)")
                }
            }
        }
    }

    /// At a generic point (random coordinates: no ties between the k-th and (k+1)-th neighbour, nor between
    /// the maxima, within the step), the layer is smooth and backward must match central differences.
    @Test func backwardAgreesWithCentralFiniteDifferences() throws {
        var g = SeededGenerator(seed: 5)
        let layer = EdgeConv(3, 4, neighbours: 4, generator: &g)
        let x = randomTensor([2, 16, 3], seed: 2, scale: 2)
        let results = GradientCheck(eps: 1e-3, maxEntries: 150).run(layer, input: x)
        for r in results {
            print("edgeconv \(r)")
            #expect(r.maxRelDiff < 5e-3, "\(r)")
        }
    }

    /// The distance blocks cover clouds larger than one block, and padding is never a neighbour.
    @Test func blocksAndPaddingAreHandled() throws {
        var g = SeededGenerator(seed: 9)
        let layer = EdgeConv(3, 4, neighbours: 6, generator: &g)
        let n = EdgeConv.blockRows * 2 + 17
        let x = randomTensor([1, n, 3], seed: 4)
        let c = layer.makeContext()
        let full = layer.forward(x, c).array
        // Same cloud with 40 padding points of huge coordinates after it: real outputs unchanged.
        let padded = Tensor(shape: [1, n + 40, 3])
        padded.data.update(from: x.data, count: x.count)
        for i in (3 * n)..<(3 * (n + 40)) { padded.data[i] = 1000 }
        let c2 = layer.makeContext()
        c2.validLengths = [n]
        let y = layer.forward(padded, c2).array
        expectClose(Array(y.prefix(4 * n)), full, rtol: 1e-5, atol: 1e-6)
    }

    @Test func dgcnnFamilyBuildsAndIsPermutationInvariant() throws {
        let f = try PointCloudPlugin().family("dgcnn-s")
        #expect(f.threshold == 0.25)
        let m = try f.build([40, 3], 3, 0.5, 2)
        for tap in f.taps { #expect(m.layerNames.contains(tap)) }
        let x = randomTensor([1, 40, 3], seed: 5)
        let y1 = m.forward(x, m.makeContext()).array
        var rows = (0..<40).map { Array(x.array[(3 * $0)..<(3 * $0 + 3)]) }
        rows.reverse()
        let y2 = m.forward(Tensor(shape: [1, 40, 3], values: rows.flatMap { $0 }), m.makeContext()).array
        expectClose(y1, y2, rtol: 1e-4, atol: 1e-5)
    }
}
