import Foundation
import KDCore

/// Times the whole σ optimisation of an entropy workload (Benchmarks.md e1–e3).
public enum EntropyBenchmark {
    public struct Result: Sendable {
        public var workload: BenchmarkWorkload
        /// Wall seconds per sample with every core busy (one sample per core, rounds timed as a whole).
        public var secondsPerSample: Double
        /// Useful GFLOP/s: Benchmarks.md's useful FLOP per sample over seconds per sample.
        public var usefulGFLOPs: Double
        public var roundSeconds: [Double]
        public var steps: Int
        public var threads: Int
        /// The entropies (nats, one per unit) of every timed sample, in order: for checking that a change
        /// of the arithmetic leaves the σ maps where they were (``maximumDifference(_:_:)``).
        public var entropies: [[Float]]
    }

    /// The largest |ΔH| between two runs' entropies, or nil when their shapes differ.
    public static func maximumDifference(_ a: [[Float]], _ b: [[Float]]) -> Float? {
        guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else { return nil }
        var m: Float = 0
        for (x, y) in zip(a, b) { for (p, q) in zip(x, y) { m = max(m, abs(p - q)) } }
        return m
    }

    /// Calls `body` on every layer of `model`, children included.
    static func forEachLayer(in model: Model, _ body: (Layer) -> Void) {
        func walk(_ l: Layer) {
            body(l)
            for (_, child) in l.children { walk(child) }
        }
        walk(model.body)
    }

    /// Turns Winograd convolution on or off in every ``Conv2D`` of `model` (off: im2col + GEMM throughout).
    public static func setWinograd(_ on: Bool, in model: Model) {
        forEachLayer(in: model) { ($0 as? Conv2D)?.winograd = on }
    }

    /// Sets the convolution backend of every ``Conv2D`` of `model` (Docs/Benchmarks.md, "oneDNN convolutions").
    public static func setBackend(_ backend: Conv2D.Backend, bfloat16: Bool = false, in model: Model) {
        forEachLayer(in: model) { l in
            if let c = l as? Conv2D { c.backend = backend; c.dnnlBFloat16 = bfloat16 }
        }
    }

    /// Turns oneDNN layer chains (``Sequential/fusesDNNLChains``) on or off in every ``Sequential`` of `model`.
    public static func setLayerChains(_ on: Bool, in model: Model) {
        forEachLayer(in: model) { ($0 as? Sequential)?.fusesDNNLChains = on }
    }

    /// Runs one warm-up round (3 steps) and `repeats` timed rounds of `threads` samples in parallel, each
    /// with K = 16 and `steps` σ steps (200 = the standard workload).
    public static func run(_ w: BenchmarkWorkload, repeats: Int = 5, steps: Int = 200,
                           threads: Int = ProcessInfo.processInfo.activeProcessorCount, winograd: Bool = true,
                           backend: Conv2D.Backend? = nil, bfloat16: Bool = false, layerChains: Bool = true,
                           progress: ((Int, Double) -> Void)? = nil) throws -> Result {
        precondition(w != .t1, "t1 is a training workload")
        let (model, tap, makeSample) = Workloads.entropyWorkload(w)
        setWinograd(winograd, in: model)
        if let backend { setBackend(backend, bfloat16: bfloat16, in: model) }
        setLayerChains(layerChains, in: model)
        return try run(w, model: model, tap: tap, usefulGFLOPPerStep: w.usefulGFLOPPerStep, makeSample: makeSample,
                       repeats: repeats, steps: steps, threads: threads, progress: progress)
    }

    /// The workload's inputs and units run through another network (e.g. a plugin family built for the same
    /// input shape). Useful work is counted as for e1–e3: forward MACs up to the tap, ×2 for the input
    /// gradient, ×2 FLOP per MAC, × K.
    public static func run(_ w: BenchmarkWorkload, model: Model, tap: String, repeats: Int = 5, steps: Int = 200,
                           threads: Int = ProcessInfo.processInfo.activeProcessorCount, foldBatchNorm: Bool = true,
                           progress: ((Int, Double) -> Void)? = nil) throws -> Result {
        let (_, _, makeSample) = Workloads.entropyWorkload(w)
        let macs = Double(MACCount.forward(model, through: try model.layerIndex(tap)))
        return try run(w, model: model, tap: tap, usefulGFLOPPerStep: 4 * macs * 16 / 1e9, makeSample: makeSample,
                       repeats: repeats, steps: steps, threads: threads, foldBatchNorm: foldBatchNorm, progress: progress)
    }

    static func run(_ w: BenchmarkWorkload, model: Model, tap: String, usefulGFLOPPerStep: Double,
                    makeSample: (Int) -> Sample, repeats: Int, steps: Int, threads: Int, foldBatchNorm: Bool = true,
                    progress: ((Int, Double) -> Void)?) throws -> Result {
        var settings = EntropySettings.fast
        settings.noiseSamples = 16
        settings.pinning = nil
        settings.steps = 3
        let warm = try EntropyEngine(model: model, tap: tap, settings: settings, foldBatchNorm: foldBatchNorm)
        _ = warm.analyse((0..<threads).map(makeSample), threads: threads)
        settings.steps = steps
        let engine = try EntropyEngine(model: model, tap: tap, settings: settings, foldBatchNorm: foldBatchNorm)
        var rounds: [Double] = []
        var entropies: [[Float]] = []
        for r in 0..<repeats {
            let samples = (0..<threads).map { makeSample(100 + r * threads + $0) }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let out = engine.analyse(samples, threads: threads)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            for o in out { entropies.append(try o.get().entropies) }
            rounds.append(dt)
            progress?(r + 1, dt)
        }
        let perSample = GEMMBenchmark.median(rounds) / Double(threads)
        let useful = usefulGFLOPPerStep * Double(steps) / perSample
        return Result(workload: w, secondsPerSample: perSample, usefulGFLOPs: useful, roundSeconds: rounds,
                      steps: steps, threads: threads, entropies: entropies)
    }
}
