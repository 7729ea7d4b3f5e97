// Winograd F(2×2, 3×3): the 3×3, stride-1, padding-1 convolution with 2.25× fewer multiplies than im2col.
// Shape key as Conv2D: x (B, H, W, Ci), y (B, H, W, Co); P tiles of 2×2 output pixels, P = B·⌈H/2⌉·⌈W/2⌉.

import _CKernels

/// The Winograd minimal-filtering convolution (Lavin & Gray 2016) for 3×3, stride-1, padding-1 layers on
/// NHWC images, used by ``Conv2D`` for its forward pass and its input gradient.
///
/// ```
/// per tile (2×2 outputs from a 4×4 input patch d), per output channel o:
///   Y = Aᵀ [ Σ_i (G g_oi Gᵀ) ⊙ (Bᵀ d_i B) ] A
/// ```
///
/// The Hadamard product summed over input channels is, for each of the 16 transform coefficients ξ, one
/// matrix product `M_ξ (P, Co) = V_ξ (P, Ci) · U_ξᵀ (Ci, Co)`: 16 GEMMs through OpenBLAS of 16·P·Ci·Co
/// multiply–adds against im2col's 36·P·Ci·Co. The transforms (C kernels in `_CKernels`, 8-wide over
/// channels) are additions only, apart from the filter transform's halves. Tiles run in chunks whose V and M
/// blocks together stay within ``chunkBytes`` so they are still in cache between transform and GEMM.
///
/// The input gradient of the same layer is again a 3×3, stride-1, padding-1 convolution, of dy with the
/// kernel rotated by 180° and its channel roles swapped, so it runs through the same code with the forward
/// pass's transformed filters: G J = P G (J reverses the kernel's 3 rows, P swaps rows 0 and 3 of 4), so the
/// rotated kernel's U'_{4r+c} is U_{4p(r)+p(c)} with p = (3, 1, 2, 0), transposed — which the GEMM takes as
/// it is (``convolve(_:images:height:width:inputs:outputs:filters:flipped:bias:into:workspace:)``).
/// Numerically the transforms are exact in exact arithmetic; in float32 results differ from im2col's by
/// rounding only (about 1e-6 relative on the e1 network).
enum Winograd {
    /// Both channel counts must be multiples of 8 (the kernels' vector width) and at most 4096 (the zero
    /// padding row); below 16 channels the GEMMs are too narrow to gain over im2col.
    static func supports(inputs: Int, outputs: Int) -> Bool {
        inputs % 8 == 0 && outputs % 8 == 0 && min(inputs, outputs) >= 16 && max(inputs, outputs) <= 4096
    }

    /// V and M of one chunk together stay below this many bytes.
    static let chunkBytes = 2 << 20

    static func tilesPerChunk(inputs: Int, outputs: Int) -> Int {
        max(16, chunkBytes / (MemoryLayout<Float>.stride * 16 * (inputs + outputs)))
    }

    /// Floats of workspace one call of ``convolve`` needs.
    static func workspaceCount(inputs: Int, outputs: Int) -> Int {
        16 * tilesPerChunk(inputs: inputs, outputs: outputs) * (inputs + outputs)
    }

    /// `u` (16 × outputs × inputs) from weights `w` (outputs, 3, 3, inputs).
    static func filters(_ w: UnsafePointer<Float>, outputs: Int, inputs: Int, into u: UnsafeMutablePointer<Float>) {
        kd_winograd_filter(w, Int32(outputs), Int32(inputs), u)
    }

    /// Where coefficient ξ of the rotated kernel's transform is found in the forward transform.
    static let flippedCoefficient: [Int] = (0..<16).map { xi in
        let p = [3, 1, 2, 0]
        return 4 * p[xi / 4] + p[xi % 4]
    }

    /// `y[images] = conv(x[images]) + bias` for the images `images` of x (B, h, w, ci) and y (B, h, w, co).
    /// Overwrites y's pixels of those images. `u` comes from ``filters(_:outputs:inputs:into:)`` of this
    /// layer, 16 × (co, ci); with `flipped`, of the layer whose input gradient this is, 16 × (ci, co), and
    /// the convolution is the one with that layer's kernel rotated by 180° (co and ci are its Ci and Co).
    static func convolve(_ x: UnsafePointer<Float>, images: Range<Int>, height h: Int, width w: Int,
                         inputs ci: Int, outputs co: Int, filters u: UnsafePointer<Float>, flipped: Bool = false,
                         bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>,
                         workspace: UnsafeMutablePointer<Float>) {
        let perImage = ((h + 1) / 2) * ((w + 1) / 2)
        let perChunk = tilesPerChunk(inputs: ci, outputs: co)
        let end = images.upperBound * perImage
        var t0 = images.lowerBound * perImage
        while t0 < end {
            let n = min(perChunk, end - t0)
            // V (n, 16, ci) and M (n, 16, co): each tile's 16 coefficients side by side, so the transforms
            // read and write one contiguous block per tile; the GEMM of coefficient ξ takes every 16th row.
            let v = workspace, m = workspace + 16 * n * ci
            kd_winograd_input(x, Int32(h), Int32(w), Int32(ci), Int32(t0), Int32(n), v, 16 * ci, ci)
            for xi in 0..<16 {
                if flipped {
                    // M_ξ (n, co) = V_ξ (n, ci) · U_p(ξ) (ci, co)
                    BLAS.gemm(m: n, n: co, k: ci, a: v + xi * ci, lda: 16 * ci,
                              b: u + flippedCoefficient[xi] * co * ci, ldb: co, c: m + xi * co, ldc: 16 * co)
                } else {
                    // M_ξ (n, co) = V_ξ (n, ci) · U_ξᵀ (ci, co)
                    BLAS.gemm(transB: true, m: n, n: co, k: ci, a: v + xi * ci, lda: 16 * ci,
                              b: u + xi * co * ci, ldb: ci, c: m + xi * co, ldc: 16 * co)
                }
            }
            kd_winograd_output(m, 16 * co, co, Int32(h), Int32(w), Int32(co), Int32(t0), Int32(n), bias, y)
            t0 += n
        }
    }
}
