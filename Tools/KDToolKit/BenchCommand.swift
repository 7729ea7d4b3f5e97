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

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1 (200 is the standard workload)") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1 (5 or more for a stated figure)") }
    }

    func run() throws {
        switch workload {
        case .gemm:
            let r = GEMMBenchmark.run(size: 2048, repeats: max(repeats, 5))
            print(String(format: "gemm: %.1f GFLOP/s", r.gflops) + "  (sgemm 2048³, \(BLAS.threads) OpenBLAS threads, median of \(r.samples.count))")
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
                r = try EntropyBenchmark.run(w, model: model, tap: layer, repeats: repeats, steps: steps, progress: report)
            } else {
                r = try EntropyBenchmark.run(w, repeats: repeats, steps: steps, progress: report)
            }
            var line = String(format: "\(name): %.3f s/sample, %.1f GFLOP/s useful", r.secondsPerSample, r.usefulGFLOPs)
            line += "  (K=16 T=\(r.steps) threads=\(r.threads) sigma-param=log, median of \(r.roundSeconds.count) rounds)"
            if steps != 200 { line += " [not the standard T=200]" }
            print(line)
        case .t1:
            FileHandle.standardError.write(Data("bench t1: vgg-s, 1024 random images, batch 64, \(repeats) epochs after a warm-up…\n".utf8))
            let r = try TrainingBenchmark.run(repeats: repeats)
            print(String(format: "t1: %.1f samples/s, %.1f GFLOP/s", r.samplesPerSecond, r.gflops)
                  + "  (vgg-s, batch 64, SGD lr 0.01 momentum 0.9, \(BLAS.threads) OpenBLAS threads, median of \(r.epochSeconds.count) epochs)")
        }
    }
}
