import ArgumentParser
import Foundation
import KDBench
import KDCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run one of the fixed benchmark workloads of Benchmarks.md and print its figures in a stable form.",
        discussion: """
        gemm: square sgemm throughput on all cores (the yardstick). e1, e2, e3: the entropy step's whole σ \
        optimisation for the image, point and token workloads, in seconds per sample and useful GFLOP/s. \
        t1: one epoch of SGD training of vgg-s, in samples per second.
        """)

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case gemm, e1, e2, e3, t1
    }

    @Argument(help: "The workload: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")).")
    var workload: Workload

    @Option(help: "Timed repetitions after the warm-up (at least 5 for a stated figure).")
    var repeats: Int = 5

    @Option(help: "σ steps per sample for e1–e3 (200 is the standard workload; fewer only for a quick look).")
    var steps: Int = 200

    @Option(help: "For e1–e3: run the workload's inputs through a registered plugin's family instead (PLUGIN/FAMILY, e.g. from `kd-tool plugins`), built for the workload's input shape; useful work is counted from its own layers.")
    var family: String?

    @Option(help: "With --family: the analysed layer (default: the family's first tap).")
    var tap: String?

    enum Convolution: String, ExpressibleByArgument, CaseIterable {
        case auto, winograd, im2col, dnnl
        case dnnlDirect = "dnnl-direct"

        /// The Conv2D backend (auto: the layers' default).
        var backend: Conv2D.Backend? {
            switch self {
            case .auto: return nil
            case .winograd: return .winograd
            case .im2col: return .im2col
            case .dnnl: return .dnnl
            case .dnnlDirect: return .dnnlDirect
            }
        }
    }

    @Option(help: "Convolution algorithm for e1 and t1: auto (the layers' default, dnnl), winograd (kd-tool's Winograd F(2×2,3×3) for the 3×3 stride-1 layers that suit it, im2col for the rest), im2col (every layer; the algorithm before Winograd, for comparisons), dnnl (oneDNN: Winograd F(4×4,3×3) where it has it, direct elsewhere) or dnnl-direct (oneDNN's direct convolutions only).")
    var convolution: Convolution = .auto

    @Flag(help: "With --convolution dnnl or dnnl-direct: bfloat16 inputs to oneDNN's direct convolutions (float32 sums and outputs).")
    var bf16 = false

    @Option(help: "The library for matrix products: onednn (the default; oneDNN's sgemm, its kernels chosen from the CPU) or openblas (OpenBLAS, with the kernel family it chose or OPENBLAS_CORETYPE names). Default: the KD_GEMM environment variable, else onednn.")
    var gemm: String?

    @Flag(help: "For e1 and image families: run every layer on its own instead of running consecutive oneDNN convolutions, ReLUs and max-pools as one oneDNN chain in its blocked layouts (the default for the σ step; the same numbers), for comparisons.")
    var noLayerChains = false

    @Flag(help: "With --family: keep the network's BatchNorm layers as they are instead of folding them into the Linear or Conv2D before them (the default; same function, fewer passes), for comparisons.")
    var keepBatchNorm = false

    @Option(help: "For e1–e3: write the entropies of every timed sample (one line per sample, nats) to this file.")
    var sigmaOut: String?

    @Option(help: "For e1–e3: compare the entropies of every timed sample with a file written by --sigma-out (same workload, --repeats and --steps); fails if any differs by more than --sigma-tolerance.")
    var sigmaCheck: String?

    @Option(help: "With --sigma-check: the largest allowed difference of any unit's entropy, in nats.")
    var sigmaTolerance: Float = 1e-4

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1 (200 is the standard workload)") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1 (5 or more for a stated figure)") }
        if bf16 && !(convolution == .dnnl || convolution == .dnnlDirect) {
            throw ValidationError("--bf16 needs --convolution dnnl or dnnl-direct (got \(convolution.rawValue))")
        }
    }

    func run() throws {
        if let gemm {
            guard let library = BLAS.Library(rawValue: gemm.lowercased()) else {
                throw ValidationError("--gemm takes \(BLAS.Library.allCases.map(\.rawValue).joined(separator: " or ")), got '\(gemm)'")
            }
            BLAS.library = library
        }
        switch workload {
        case .gemm:
            let r = GEMMBenchmark.run(size: 2048, repeats: max(repeats, 5))
            print(String(format: "gemm: %.1f GFLOP/s", r.gflops) + "  (sgemm 2048³, \(BLAS.threads) threads, gemm=\(BLAS.description), median of \(r.samples.count))")
        case .e1, .e2, .e3:
            let w = BenchmarkWorkload(rawValue: workload.rawValue)!
            FileHandle.standardError.write(Data("bench \(w): K = 16, T = \(steps), \(repeats) rounds of one sample per core after a warm-up…\n".utf8))
            let report: (Int, Double) -> Void = { round, seconds in
                FileHandle.standardError.write(Data(String(format: "  round %d: %.2f s\n", round, seconds).utf8))
            }
            var name = "\(w)"
            let r: EntropyBenchmark.Result
            if let family {
                let parts = family.split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("--family takes PLUGIN/FAMILY, got '\(family)'") }
                let plugin = try Registration.registry().plugin(named: parts[0])
                let f = try plugin.family(parts[1])
                let (reference, _, _) = Workloads.entropyWorkload(w)
                let outputs = reference.outputShape(batch: 1).last ?? 10
                let model = try f.build(reference.inputShape, outputs, 1, 1)
                let layer = tap ?? f.taps[0]
                name += " with \(family) at \(layer)"
                EntropyBenchmark.setWinograd(convolution != .im2col, in: model)
                if let b = convolution.backend { EntropyBenchmark.setBackend(b, bfloat16: bf16, in: model) }
                EntropyBenchmark.setLayerChains(!noLayerChains, in: model)
                r = try EntropyBenchmark.run(w, model: model, tap: layer, repeats: repeats, steps: steps,
                                             foldBatchNorm: !keepBatchNorm, progress: report)
                if keepBatchNorm { name += " (BatchNorm kept)" }
            } else {
                r = try EntropyBenchmark.run(w, repeats: repeats, steps: steps, winograd: convolution != .im2col,
                                             backend: convolution.backend, bfloat16: bf16, layerChains: !noLayerChains,
                                             progress: report)
            }
            try checkEntropies(r.entropies, name: name)
            var line = String(format: "\(name): %.3f s/sample, %.1f GFLOP/s useful", r.secondsPerSample, r.usefulGFLOPs)
            line += "  (K=16 T=\(r.steps) threads=\(r.threads) gemm=\(BLAS.description) sigma-param=log conv=\(convolution == .auto ? "auto (dnnl)" : convolution.rawValue)\(bf16 ? " bf16" : "") chains=\(noLayerChains ? "off" : "on"), median of \(r.roundSeconds.count) rounds)"
            if steps != 200 { line += " [not the standard T=200]" }
            print(line)
        case .t1:
            FileHandle.standardError.write(Data("bench t1: vgg-s, 1024 random images, batch 64, \(repeats) epochs after a warm-up…\n".utf8))
            let r = try TrainingBenchmark.run(repeats: repeats, winograd: convolution != .im2col, backend: convolution.backend,
                                              bfloat16: bf16)
            print(String(format: "t1: %.1f samples/s, %.1f GFLOP/s", r.samplesPerSecond, r.gflops)
                  + "  (vgg-s, batch 64, SGD lr 0.01 momentum 0.9, \(BLAS.threads) threads, gemm=\(BLAS.description), conv=\(convolution == .auto ? "auto (dnnl)" : convolution.rawValue)\(bf16 ? " bf16" : ""), median of \(r.epochSeconds.count) epochs)")
        }
    }

    /// --sigma-out / --sigma-check: the σ maps of the timed samples, written or compared (max |ΔH| in nats).
    func checkEntropies(_ entropies: [[Float]], name: String) throws {
        let text = entropies.map { $0.map { String(format: "%.9g", $0) }.joined(separator: " ") }.joined(separator: "\n") + "\n"
        if let path = sigmaOut {
            do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("--sigma-out: cannot write '\(path)': \(error.localizedDescription); choose a writable path")
            }
        }
        guard let path = sigmaCheck else { return }
        guard let saved = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("--sigma-check: cannot read '\(path)'; expected a file written by --sigma-out")
        }
        var reference: [[Float]] = []
        for (i, line) in saved.split(separator: "\n").enumerated() {
            let values = line.split(separator: " ").map { Float($0) }
            guard values.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--sigma-check: '\(path)' line \(i + 1) holds something other than numbers; expected a file written by --sigma-out")
            }
            reference.append(values.map { $0! })
        }
        guard let d = EntropyBenchmark.maximumDifference(entropies, reference) else {
            throw ValidationError("--sigma-check: '\(path)' holds \(reference.count) samples of \(reference.first?.count ?? 0) units, this run \(entropies.count) of \(entropies.first?.count ?? 0); run with the same workload, --repeats and --steps as when it was written")
        }
        let ok = d <= sigmaTolerance
        print(String(format: "sigma-check \(name): max |dH| %.3g nats over \(entropies.count) samples (tolerance %.3g) ",
                     d, sigmaTolerance) + (ok ? "ok" : "FAILED"))
        if !ok { throw ExitCode(1) }
    }
}
