import KDCore
import Testing

/// The benchmark workloads must be exactly those of Benchmarks.md: their forward MACs up to the tap match
/// the table (158.7 M, 112.8 M, 27.3 M), and the useful FLOP per step is 2 (forward + input gradient) ×
/// 2 FLOP/MAC × K = 16 × MACs.
@Suite struct WorkloadTests {
    @Test(arguments: [BenchmarkWorkload.e1, .e2, .e3])
    func forwardMACsMatchTheBenchmarkTable(_ w: BenchmarkWorkload) throws {
        let (model, tap, sample) = Workloads.entropyWorkload(w)
        let macs = Double(MACCount.forward(model, through: try model.layerIndex(tap))) / 1e6
        #expect(abs(macs - w.statedForwardMMACs) < 0.05, "\(w): \(macs) M MACs, table says \(w.statedForwardMMACs)")
        // The table rounds and (for e3) counts a little attention work beyond the matrix products: within 4 %.
        #expect(abs(4 * 16 * macs / 1000 - w.usefulGFLOPPerStep) < 0.04 * w.usefulGFLOPPerStep)
        #expect(sample(0).input.shape == model.inputShape)
    }
}
