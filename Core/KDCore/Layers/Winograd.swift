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
/// kernel rotated by 180° and its channel roles swapped (`flip` in ``filters(_:outputs:inputs:flip:into:)``),
/// so it runs through the same code. Numerically the transforms are exact in exact arithmetic; in float32
/// results differ from im2col's by rounding only (about 1e-6 relative on the e1 network).
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

    /// `u` (16 × outputs × inputs) from weights `w` (outputs, 3, 3, inputs); with `flip`, the filters of the
    /// input-gradient convolution: `u` (16 × inputs × outputs).
    static func filters(_ w: UnsafePointer<Float>, outputs: Int, inputs: Int, flip: Bool, into u: UnsafeMutablePointer<Float>) {
        kd_winograd_filter(w, Int32(outputs), Int32(inputs), flip ? 1 : 0, u)
    }

    /// `y[images] = conv(x[images]) + bias` for the images `images` of x (B, h, w, ci) and y (B, h, w, co),
    /// with `u` from ``filters(_:outputs:inputs:flip:into:)``. Overwrites y's pixels of those images.
    static func convolve(_ x: UnsafePointer<Float>, images: Range<Int>, height h: Int, width w: Int,
                         inputs ci: Int, outputs co: Int, filters u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                         into y: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>) {
        let perImage = ((h + 1) / 2) * ((w + 1) / 2)
        let perChunk = tilesPerChunk(inputs: ci, outputs: co)
        let end = images.upperBound * perImage
        var t0 = images.lowerBound * perImage
        while t0 < end {
            let n = min(perChunk, end - t0)
            // V: 16 × (n, ci), M: 16 × (n, co), each ξ block packed at its chunk's actual size.
            let v = workspace, m = workspace + 16 * n * ci
            kd_winograd_input(x, Int32(h), Int32(w), Int32(ci), Int32(t0), Int32(n), v, n * ci)
            for xi in 0..<16 {
                // M_ξ (n, co) = V_ξ (n, ci) · U_ξᵀ (ci, co)
                BLAS.gemm(transB: true, m: n, n: co, k: ci, a: v + xi * n * ci, lda: ci,
                          b: u + xi * co * ci, ldb: ci, c: m + xi * n * co, ldc: co)
            }
            kd_winograd_output(m, n * co, Int32(h), Int32(w), Int32(co), Int32(t0), Int32(n), bias, y)
            t0 += n
        }
    }
}
