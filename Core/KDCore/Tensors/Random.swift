import Foundation
import _CKernels

/// A small, fast, seedable generator (xoshiro256**, seeded through SplitMix64), so every run that
/// names a seed is reproducible bit for bit on any machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareGaussian: Float? = nil

    public init(seed: UInt64) {
        var sm = seed
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(&sm); s1 = splitmix(&sm); s2 = splitmix(&sm); s3 = splitmix(&sm)
    }

    /// A generator for a derived stream (e.g. one per sample), independent of the parent's state.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03) &+ 0x632B_E59B_D9B4_E019)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    @inline(__always)
    public mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box–Muller, both values used).
    @inline(__always)
    public mutating func gaussian() -> Float {
        if let g = spareGaussian { spareGaussian = nil; return g }
        var u1: Float
        repeat { u1 = uniform() } while u1 <= 1e-12
        let u2 = uniform()
        let r = (-2 * logf(u1)).squareRoot()
        let theta = 2 * Float.pi * u2
        spareGaussian = r * sinf(theta)
        return r * cosf(theta)
    }

    /// `count` values `gaussian() * scale`, bit for bit the values and the generator state that many calls
    /// of ``gaussian()`` would give: a pending spare value first, then whole pairs, whose uniforms are drawn
    /// here in the same order and transformed in C (`kd_box_muller`: one `sincosf` per pair instead of `sinf`
    /// and `cosf`, the same values), then a last odd value through ``gaussian()``, which keeps its spare.
    /// The noise of every σ step comes from here (131 072 values per bert-tiny step).
    public mutating func fillGaussian(_ p: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        var i = 0
        if count > 0, let g = spareGaussian { spareGaussian = nil; p[0] = g * scale; i = 1 }
        let chunk = 256   // pairs per call
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * chunk) { u in
            let up = u.baseAddress!
            while count - i >= 2 {
                let pairs = min(chunk, (count - i) / 2)
                for j in 0..<pairs {
                    var u1: Float
                    repeat { u1 = uniform() } while u1 <= 1e-12
                    up[2 * j] = u1
                    up[2 * j + 1] = uniform()
                }
                kd_box_muller(up, pairs, scale, p + i)
                i += 2 * pairs
            }
        }
        if i < count { p[i] = gaussian() * scale }
    }

    public mutating func fillUniform(_ p: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
        let span = high - low
        for i in 0..<count { p[i] = low + uniform() * span }
    }
}
