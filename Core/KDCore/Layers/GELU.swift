import Foundation
import _CKernels

// The Gaussian error linear unit, erf form. x, y: any shape.

/// GELU(x) = x · Φ(x), with Φ the standard normal CDF (the erf form, not the tanh approximation).
///
/// ```
/// y  = ½ · x · (1 + erf(x / √2))
/// dy/dx = Φ(x) + x · φ(x),   φ(x) = exp(−x²/2) / √(2π)
/// ```
/// The erf form is PyTorch's default (`approximate='none'`) and BERT's, so weights trained elsewhere
/// behave the same here; the tanh approximation differs from it by up to about 1e-3.
///
/// erf and exp come from ``FastMath`` (accurate to a few Float32 ulps) instead of glibc's `erff`/`expf`,
/// which took 20 of the 51 ms of a bert-tiny encoder step (16 × 64 tokens, FFN 512). The output's error
/// is at most 2.4e-7 · max(1, |x|) (glibc's erff in the same formula: 1e-7), so in the far negative
/// tail, where GELU(x) → 0⁻, it is small in absolute but not in relative terms. Both passes run in
/// `_CKernels/elementwise.c` (AVX2 when the CPU has it, chosen at run time), which evaluates FastMath's
/// formulas operation for operation, so the values are FastMath's bit for bit.
///
/// ### References
/// Hendrycks, Gimpel, "Gaussian Error Linear Units (GELUs)", 2016.
public final class GELU: Layer {
    public let kind = "gelu"
    public init() {}
    public func outputShape(for inputShape: [Int]) -> [Int] { inputShape }

    static let inverseSqrt2: Float = 0.70710678118654752
    static let inverseSqrt2Pi: Float = 0.39894228040143268

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let y = c.buffer(0, x.shape)
        let cdf = c.buffer(2, x.shape)                 // Φ(x), kept so backward needs no erf
        // 8 lanes at a time on AVX2 (`_CKernels/elementwise.c`): FastMath's operations in the same order, so
        // every value is bit for bit `x · ½(1 + FastMath.erf(x/√2))`.
        kd_gelu_forward(x.data, y.data, cdf.data, x.count)
        c.save(0, x)
        c.save(1, cdf)
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let x = c.savedTensor(0), cdf = c.savedTensor(1)
        let dx = c.buffer(1, x.shape)
        guard c.inputGradient else { return dx }
        // dy · (Φ(x) + x · φ(x)) with φ from FastMath.expNonPositive, bit for bit, 8 lanes at a time.
        kd_gelu_backward(x.data, cdf.data, dy.data, dx.data, x.count)
        return dx
    }
}

/// Branch-free, inlinable erf and exp for elementwise hot loops.
///
/// glibc's `erff` and `expf` are opaque calls, so a loop that uses them stays scalar and pays a call
/// per element; these are straight-line arithmetic the compiler vectorises. Accuracy: erf within
/// 3 ulps of glibc's (absolute, over all x), exp within one ulp (relative, over [−87, 0]); the tests
/// print both.
public enum FastMath {
    /// erf(x) as x·P(x²)/Q(x²) on x clamped to [−4, 4] (beyond it erf is ±1 in Float32).
    ///
    /// The rational minimax approximation Eigen and XLA use for Float32; its largest error against a
    /// correctly rounded erf is a few ulps (the tests print the difference to glibc's `erff`).
    @inline(__always)
    public static func erf(_ x: Float) -> Float {
        let v = x < -4 ? -4 : (x > 4 ? 4 : x)
        let s = v * v
        var p: Float = -2.72614225801306e-10
        p = p * s + 2.77068142495902e-08
        p = p * s - 2.10102402082508e-06
        p = p * s - 5.69250639462346e-05
        p = p * s - 7.34990630326855e-04
        p = p * s - 2.95459980854025e-03
        p = p * s - 1.60960333262415e-02
        var q: Float = -1.45660718464996e-05
        q = q * s - 2.13374055278905e-04
        q = q * s - 1.68282697438203e-03
        q = q * s - 7.37332916720468e-03
        q = q * s - 1.42647390514189e-02
        return v * p / q
    }

    /// eˣ for x ≤ 0 (φ's exp(−x²/2), a softmax shifted by its row maximum), as 2ⁿ · e^r with
    /// n = round(x / ln 2) and |r| ≤ ln 2 / 2.
    ///
    /// ln 2 is split in two (Cody–Waite) so r is exact, and e^r is its degree-7 Taylor polynomial
    /// (truncation below 5e-9 relative, well under one ulp). x is clamped to −87, where eˣ ≈ 1.6e-38
    /// is near the smallest normal Float, so every x ≤ −87 returns about 1.6e-38 rather than a smaller
    /// number (or 0), a difference no sum or product with O(1) values can show.
    @inline(__always)
    public static func expNonPositive(_ x: Float) -> Float {
        let v = x < -87 ? -87 : (x > 0 ? 0 : x)
        // Adding 1.5·2²³ rounds to an integer in the low mantissa bits (no call to rint, which the
        // baseline x86-64 target lacks as an instruction): t's bit pattern is 0x4B40_0000 + n.
        let t = v * 1.44269504088896341 + 12_582_912
        let n = t - 12_582_912
        let r = (v - n * 0.693145751953125) - n * 1.42860682030941723212e-6
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        return p * Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) << 23)
    }

    /// ``erf(_:)`` on 8 lanes: the same operations in the same order, so each lane equals the scalar
    /// result bit for bit (a NaN stays NaN).
    @inline(__always)
    public static func erf(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var v = x.replacing(with: -4, where: x .< -4)
        v.replace(with: 4, where: v .> 4)
        let s = v * v
        var p = SIMD8<Float>(repeating: -2.72614225801306e-10)
        p = p * s + 2.77068142495902e-08
        p = p * s - 2.10102402082508e-06
        p = p * s - 5.69250639462346e-05
        p = p * s - 7.34990630326855e-04
        p = p * s - 2.95459980854025e-03
        p = p * s - 1.60960333262415e-02
        var q = SIMD8<Float>(repeating: -1.45660718464996e-05)
        q = q * s - 2.13374055278905e-04
        q = q * s - 1.68282697438203e-03
        q = q * s - 7.37332916720468e-03
        q = q * s - 1.42647390514189e-02
        return v * p / q
    }

    /// ``expNonPositive(_:)`` on 8 lanes, bit for bit the scalar result in each lane.
    @inline(__always)
    public static func expNonPositive(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var v = x.replacing(with: -87, where: x .< -87)
        v.replace(with: 0, where: v .> 0)
        let t = v * 1.44269504088896341 + 12_582_912
        let n = t - 12_582_912
        let r = (v - n * 0.693145751953125) - n * 1.42860682030941723212e-6
        var p = SIMD8<Float>(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return p * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    }
}
