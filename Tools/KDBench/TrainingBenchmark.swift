import Foundation
import KDCore

/// Benchmarks.md t1: one epoch of SGD (lr 0.01, momentum 0.9, batch 64) of `vgg-s` over 1024 random
/// 3×64×64 images with 10 classes and cross-entropy.
public enum TrainingBenchmark {
    public struct Result: Sendable {
        public var samplesPerSecond: Double
        /// Forward + backward (weights and inputs of every layer but the first) FLOP per epoch over time,
        /// counted as 969.6 GFLOP per epoch in Benchmarks.md.
        public var gflops: Double
        public var epochSeconds: [Double]
    }

    public static let gflopPerEpoch = 969.6

    public static func run(repeats: Int = 5, images: Int = 1024, batch: Int = 64, winograd: Bool = true,
                           backend: Conv2D.Backend? = nil, bfloat16: Bool = false) throws -> Result {
        let model = Workloads.vggS(seed: 1)
        EntropyBenchmark.setWinograd(winograd, in: model)
        if let backend { EntropyBenchmark.setBackend(backend, bfloat16: bfloat16, in: model) }
        var g = SeededGenerator(seed: 7)
        let data = Tensor(shape: [images, 64, 64, 3])
        g.fillGaussian(data.data, count: data.count)
        let labels = (0..<images).map { _ in Int(g.next() % 10) }
        let optimizer = SGD(momentum: 0.9)
        let context = model.makeContext()
        context.training = true
        context.inputGradient = false
        let x = Tensor(shape: [batch, 64, 64, 3])
        let dlogits = Tensor(shape: [batch, 10])
        let params = model.namedParameters
        let perSample = 64 * 64 * 3
        var epochs: [Double] = []
        for e in 0...repeats {
            var order = Array(0..<images)
            var rng = SeededGenerator(seed: UInt64(e))
            order.shuffle(using: &rng)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var start = 0
            while start < images {
                let n = min(batch, images - start)
                x.resize([n, 64, 64, 3])
                var y: [Int] = []
                for j in 0..<n {
                    let i = order[start + j]
                    (x.data + j * perSample).update(from: data.data + i * perSample, count: perSample)
                    y.append(labels[i])
                }
                model.zeroGradients()
                let logits = model.forward(x, context)
                dlogits.resize(logits.shape)
                _ = Loss.crossEntropy(logits: logits, labels: y, gradient: dlogits)
                _ = model.backward(dlogits, context)
                _ = optimizer.step(params, learningRate: 0.01)
                start += n
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if e > 0 { epochs.append(dt) }
        }
        let median = GEMMBenchmark.median(epochs)
        return Result(samplesPerSecond: Double(images) / median, gflops: gflopPerEpoch / median, epochSeconds: epochs)
    }
}
