import Foundation
import Testing
import _CKernels
import _TestSupport

// Shape key: dy (B, Ho, Wo, Co), dx (B, H, W, Ci), weights (Co, k, k, Ci), NHWC, stride 1.

/// `kd_small_conv_input_gradient` (Core/_CKernels/small_conv.c, the first layer's input gradient inside a
/// oneDNN chain) against a Double reference of the convolution's input gradient through a ReLU: 1–4 input
/// channels, 16–64 output channels, kernels 1, 3 and 5, paddings 0 to k − 1, odd image sizes, with and
/// without the ReLU's mask. The tolerance (1e-5 of Σ|w·g| per value) is float32 rounding; a wrong tap,
/// channel or mask breaks it.
@Suite struct SmallConvKernelTests {
    static let cases: [(ci: Int, co: Int, k: Int, p: Int, h: Int, w: Int, batch: Int)] = [
        (3, 32, 3, 1, 9, 7, 2), (1, 16, 3, 0, 6, 6, 1), (2, 48, 5, 2, 7, 8, 2), (4, 64, 1, 0, 5, 3, 3), (3, 16, 5, 4, 4, 5, 1),
    ]

    @Test(arguments: 0..<cases.count, [true, false])
    func matchesADoubleReference(_ i: Int, _ relu: Bool) throws {
        let t = Self.cases[i]
        let (ho, wo) = (t.h + 2 * t.p - t.k + 1, t.w + 2 * t.p - t.k + 1)
        let dy = randomTensor([t.batch, ho, wo, t.co], seed: 5200 + UInt64(i)).array
        let y = randomTensor([t.batch, ho, wo, t.co], seed: 5210 + UInt64(i)).array   // about half positive
        let wt = randomTensor([t.co, t.k, t.k, t.ci], seed: 5220 + UInt64(i)).array
        var dx = [Float](repeating: .nan, count: t.batch * t.h * t.w * t.ci)
        var ws = [Float](repeating: 0, count: kd_small_conv_workspace(Int32(ho), Int32(wo), Int32(t.ci), Int32(t.co), Int32(t.k)))
        let supported = kd_small_conv_supported(Int32(t.ci), Int32(t.co), Int32(t.k), 1, Int32(t.p)) != 0
        let done = y.withUnsafeBufferPointer { yp in
            kd_small_conv_input_gradient(dy, relu ? yp.baseAddress : nil, wt, Int32(t.batch), Int32(t.h), Int32(t.w),
                                         Int32(t.ci), Int32(t.co), Int32(t.k), Int32(t.p), &dx, &ws) != 0
        }
        #expect(done == supported)
        guard supported else { return }
        for b in 0..<t.batch {
            for r in 0..<t.h {
                for s in 0..<t.w {
                    for c in 0..<t.ci {
                        var sum = 0.0, mag = 0.0
                        for ky in 0..<t.k {
                            for kx in 0..<t.k {
                                let (ii, jj) = (r + t.p - ky, s + t.p - kx)
                                guard ii >= 0, ii < ho, jj >= 0, jj < wo else { continue }
                                for o in 0..<t.co {
                                    let at = ((b * ho + ii) * wo + jj) * t.co + o
                                    let g = relu && y[at] <= 0 ? 0 : Double(dy[at])
                                    let v = Double(wt[((o * t.k + ky) * t.k + kx) * t.ci + c]) * g
                                    sum += v
                                    mag += abs(v)
                                }
                            }
                        }
                        let got = Double(dx[((b * t.h + r) * t.w + s) * t.ci + c])
                        #expect(abs(got - sum) <= 1e-5 * mag + 1e-12, "case \(i) relu \(relu) at \(b),\(r),\(s),\(c): \(got) vs \(sum)")
                    }
                }
            }
        }
    }

    @Test func unsupportedShapesAreRefused() {
        #expect(kd_small_conv_supported(5, 32, 3, 1, 1) == 0)   // too many input channels
        #expect(kd_small_conv_supported(3, 24, 3, 1, 1) == 0)   // outputs not a multiple of 16
        #expect(kd_small_conv_supported(3, 32, 3, 2, 1) == 0)   // strided
        #expect(kd_small_conv_supported(3, 32, 3, 1, 3) == 0)   // padding ≥ kernel
    }
}
