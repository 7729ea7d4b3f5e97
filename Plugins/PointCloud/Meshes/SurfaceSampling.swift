// Points on a mesh's surface, drawn by triangle area, then normalised to the unit sphere.

/// The result of sampling: N points (N·3 floats) and how many triangles were passed over.
public struct SampledCloud: Sendable, Equatable {
    public var points: [Float]
    /// Triangles of zero (or non-finite) area, never drawn.
    public var degenerateTriangles: Int
    public var count: Int { points.count / 3 }
}

public enum SurfaceSampler {
    /// Draws `count` points uniformly over the surface of `mesh` with the generator seeded by `seed`:
    /// a triangle with probability proportional to its area, then a uniform point inside it
    ///
    ///     p = (1 − √r₁)·a + √r₁(1 − r₂)·b + √r₁·r₂·c,   r₁, r₂ ~ U(0, 1)
    ///
    /// Triangles of zero area are skipped and counted. The cloud is then ``normalise(_:)``d.
    public static func sample(_ mesh: Mesh, count: Int, seed: UInt64, name: String) throws -> SampledCloud {
        precondition(count > 0, "sample at least one point")
        let v = mesh.vertices, t = mesh.triangles
        let nt = mesh.triangleCount
        var cumulative = [Double](repeating: 0, count: nt)
        var total = 0.0, degenerate = 0
        for k in 0..<nt {
            let (a, b, c) = (Int(t[3 * k]) * 3, Int(t[3 * k + 1]) * 3, Int(t[3 * k + 2]) * 3)
            let u = (Double(v[b] - v[a]), Double(v[b + 1] - v[a + 1]), Double(v[b + 2] - v[a + 2]))
            let w = (Double(v[c] - v[a]), Double(v[c + 1] - v[a + 1]), Double(v[c + 2] - v[a + 2]))
            let cx = u.1 * w.2 - u.2 * w.1, cy = u.2 * w.0 - u.0 * w.2, cz = u.0 * w.1 - u.1 * w.0
            let area = 0.5 * (cx * cx + cy * cy + cz * cz).squareRoot()
            if area > 0 && area.isFinite { total += area } else { degenerate += 1 }
            cumulative[k] = total
        }
        guard total > 0 else { throw MeshError.noSurface(file: name, faces: nt, degenerate: degenerate) }
        var g = SplitMix(seed: seed)
        var points = [Float](repeating: 0, count: 3 * count)
        for i in 0..<count {
            let r = g.unit() * total
            // The first triangle whose cumulative area exceeds r (zero-area triangles never are).
            var lo = 0, hi = nt - 1
            while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] > r { hi = mid } else { lo = mid + 1 } }
            let k = lo
            let (a, b, c) = (Int(t[3 * k]) * 3, Int(t[3 * k + 1]) * 3, Int(t[3 * k + 2]) * 3)
            let s1 = g.unit().squareRoot(), r2 = g.unit()
            let wa = 1 - s1, wb = s1 * (1 - r2), wc = s1 * r2
            for d in 0..<3 {
                points[3 * i + d] = Float(wa * Double(v[a + d]) + wb * Double(v[b + d]) + wc * Double(v[c + d]))
            }
        }
        normalise(&points)
        return SampledCloud(points: points, degenerateTriangles: degenerate)
    }

    /// Centres a cloud at its mean and scales it so the farthest point is at distance 1 (PointNet's
    /// normalisation; a cloud of one repeated point is only centred).
    public static func normalise(_ points: inout [Float]) {
        let n = points.count / 3
        guard n > 0 else { return }
        var mean = (0.0, 0.0, 0.0)
        for i in 0..<n { mean.0 += Double(points[3 * i]); mean.1 += Double(points[3 * i + 1]); mean.2 += Double(points[3 * i + 2]) }
        mean = (mean.0 / Double(n), mean.1 / Double(n), mean.2 / Double(n))
        var radius = 0.0
        for i in 0..<n {
            let x = Double(points[3 * i]) - mean.0, y = Double(points[3 * i + 1]) - mean.1, z = Double(points[3 * i + 2]) - mean.2
            radius = max(radius, (x * x + y * y + z * z).squareRoot())
        }
        let scale = radius > 0 ? 1 / radius : 1
        for i in 0..<n {
            points[3 * i] = Float((Double(points[3 * i]) - mean.0) * scale)
            points[3 * i + 1] = Float((Double(points[3 * i + 1]) - mean.1) * scale)
            points[3 * i + 2] = Float((Double(points[3 * i + 2]) - mean.2) * scale)
        }
    }
}

/// SplitMix64: a small, fixed generator so sampled clouds (and the archives built from them) are
/// byte-identical for a seed, whatever the engine's generator does in future versions.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
    /// Uniform in 0..<n.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// A stable seed from a string (FNV-1a).
    static func hash(_ s: String, _ seed: UInt64 = 0) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
