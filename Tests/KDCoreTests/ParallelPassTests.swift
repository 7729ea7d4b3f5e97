import Foundation
@testable import KDCore
import Testing
import _TestSupport

/// The training passes split over threads (``Parallel``): ReLU forward and backward, the SGD momentum
/// update (with its ‖Δw‖ sums) and the zeroing of large tensors give bit for bit the single-thread
/// results for any thread count, on sizes that are not multiples of the vector width or of a chunk.
@Suite struct ParallelPassTests {
    @Test func chunksCoverTheRangeOnceOnAlignedBoundaries() {
        for count in [0, 1, 7, 8, 9, 1000, 4099, 100_003] {
            for threads in [1, 2, 3, 5] {
                for alignment in [8, 1024] {
                    let lock = NSLock()
                    var seen = [Int](repeating: 0, count: count)
                    var ranges: [Range<Int>] = []
                    Parallel.chunks(count: count, alignment: alignment, threads: threads) { r in
                        lock.lock()
                        ranges.append(r)
                        for i in r { seen[i] += 1 }
                        lock.unlock()
                    }
                    #expect(seen.allSatisfy { $0 == 1 }, "count \(count) threads \(threads): not covered exactly once")
                    for r in ranges where r.upperBound != count {
                        #expect(r.upperBound % alignment == 0, "count \(count) threads \(threads): boundary \(r.upperBound)")
                    }
                }
            }
        }
    }

    @Test func reluIsTheSameOnAnyNumberOfThreads() {
        for n in [1, 7, 1001, 100_003, 600_001] {
            let x = randomTensor([n], seed: UInt64(n))
            if n > 3 { x[0] = 0; x[1] = -0.0; x[2] = .nan; x[3] = -.infinity }
            let dy = randomTensor([n], seed: UInt64(n) + 1)
            for i in stride(from: 0, to: n, by: 5) { dy[i] = 0 }   // all-zero chunks of dy take a shortcut
            func run(_ threads: Int?) -> ([UInt32], [UInt32]) {
                let relu = ReLU()
                relu.threads = threads
                let c = relu.makeContext()
                let y = relu.forward(x, c).array.map(\.bitPattern)
                return (y, relu.backward(dy, c).array.map(\.bitPattern))
            }
            let one = run(1)
            for threads in [2, 3, nil] {
                let other = run(threads)
                #expect(other.0 == one.0, "ReLU forward, n \(n), threads \(String(describing: threads))")
                #expect(other.1 == one.1, "ReLU backward, n \(n), threads \(String(describing: threads))")
            }
        }
    }

    @Test func sgdIsTheSameOnAnyNumberOfThreads() {
        for nesterov in [false, true] {
            for n in [5, 3 * 1024 + 13, 300_001] {
                func run(_ threads: Int?) -> (w: [UInt32], buffer: [UInt32], norms: [UInt32]) {
                    let p = Parameter("w", shape: [n])
                    p.value.assign(randomTensor([n], seed: UInt64(n)))
                    let sgd = SGD(momentum: 0.9, weightDecay: 1e-4, nesterov: nesterov)
                    sgd.threads = threads
                    var norms: [UInt32] = []
                    for step in 0..<3 {
                        p.grad.assign(randomTensor([n], seed: UInt64(n * 10 + step)))
                        norms += sgd.step([("w", p)], learningRate: 0.05).map(\.bitPattern)
                    }
                    return (p.value.array.map(\.bitPattern), sgd.state[0].1.array.map(\.bitPattern), norms)
                }
                let one = run(1)
                for threads in [2, 3, nil] {
                    let other = run(threads)
                    let what = "n \(n) nesterov \(nesterov) threads \(String(describing: threads))"
                    #expect(other.w == one.w, "weights, \(what)")
                    #expect(other.buffer == one.buffer, "momentum buffer, \(what)")
                    #expect(other.norms == one.norms, "‖Δw‖, \(what)")
                }
                // ‖Δw‖ of the first step against Double: Δ = −lr (g + wd·w).
                let p = Parameter("w", shape: [n])
                p.value.assign(randomTensor([n], seed: UInt64(n)))
                p.grad.assign(randomTensor([n], seed: UInt64(n * 10)))
                let before = p.value.array
                let norm = SGD(momentum: 0.9, weightDecay: 1e-4, nesterov: nesterov).step([("w", p)], learningRate: 0.05)[0]
                let want = zip(p.value.array, before).map { Double($0) - Double($1) }.map { $0 * $0 }.reduce(0, +).squareRoot()
                expectClose(Double(norm), want, tol: 1e-5 * want, "‖Δw‖ n \(n)")
            }
        }
    }

    @Test func zeroingALargeTensorOnTwoThreadsClearsEveryElement() {
        let t = randomTensor([Parallel.minimumElements * 4 + 13], seed: 3)
        BLAS.withThreads(2) { t.zero() }
        #expect(t.array.allSatisfy { $0.bitPattern == 0 })
        BLAS.withThreads(2) { t.fill(2.5) }
        #expect(t.array.allSatisfy { $0 == 2.5 })
    }
}

/// `SeededGenerator.fillGaussian` (Box–Muller pairs in C) against the same number of `gaussian()` calls:
/// the same values bit for bit and the same state afterwards, with and without a pending spare value.
@Suite struct GaussianFillTests {
    @Test func fillGaussianEqualsRepeatedGaussianCalls() {
        for count in [0, 1, 2, 3, 255, 512, 513, 1001, 131_072] {
            for pending in [false, true] {
                for scale: Float in [1, 0.02] {
                    var a = SeededGenerator(seed: UInt64(count) + 11), b = a
                    if pending { _ = a.gaussian(); _ = b.gaussian() }
                    let filled = Tensor(shape: [max(count, 1)])
                    a.fillGaussian(filled.data, count: count, scale: scale)
                    var mismatches = 0
                    for i in 0..<count where filled[i].bitPattern != (b.gaussian() * scale).bitPattern { mismatches += 1 }
                    #expect(mismatches == 0, "count \(count) pending \(pending) scale \(scale): \(mismatches) values differ")
                    // The state afterwards: the next values (a spare first if count was odd) agree.
                    for _ in 0..<3 { #expect(a.gaussian().bitPattern == b.gaussian().bitPattern, "count \(count): state differs") }
                }
            }
        }
    }
}
