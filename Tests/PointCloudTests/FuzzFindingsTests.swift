// Inputs the fuzzers of Tools/fuzz (or the reading done to write them) showed crashing or hanging a mesh or
// collection reader; each is also in the fuzzer's corpus (Tools/fuzz/corpus/<target>/crash-* or hang-*),
// Docs/Robustness.md lists them.
import Foundation
import KDCore
import Testing
@testable import PointCloud

@Suite struct PointFuzzFindingsTests {
    /// fuzz-off: a negative count glued to the magic word ("OFF-5") became a negative vertex count and
    /// trapped building the range 0..<-5.
    @Test func negativeGluedOFFCountIsRefused() {
        #expect(throws: MeshError.malformed(file: "m.off", line: 1, expected: "OFF or OFF<non-negative vertex count>", found: "\"OFF-5\"")) {
            _ = try OFFReader.read(Array("OFF-5 0 0\n".utf8), name: "m.off")
        }
        #expect(throws: MeshError.self) { _ = try MeshReader.read(Array("OFF-1 1 0\n3 0 0 0\n".utf8), name: "m.off") }
    }

    func binaryPLY(_ elements: String, body: [UInt8] = []) -> [UInt8] {
        Array("ply\nformat binary_little_endian 1.0\n\(elements)end_header\n".utf8) + body
    }

    /// fuzz-ply: the bytes declared by several huge elements overflowed Int when added up (a trap); the
    /// header is now refused as announcing more data than the file holds.
    @Test func plyElementSizesThatOverflowWhenAddedAreRefused() {
        let header = "element vertex 0\nproperty float x\nproperty float y\nproperty float z\n"
            + "element a 5000000000000000000\nproperty char v\nelement b 5000000000000000000\nproperty char v\n"
        do {
            _ = try PLYReader.read(binaryPLY(header), name: "big.ply")
            Issue.record("read a PLY announcing 10^19 bytes")
        } catch let e as MeshError {
            guard case let .truncated(file, _, found) = e else { Issue.record("\(e)"); return }
            #expect(file == "big.ply" && found == 0)
        } catch { Issue.record("\(error)") }
    }

    /// fuzz-ply: a binary element without properties and a count of 10^18 looped 10^18 times over nothing
    /// (a hang); such an element holds no bytes and is passed over, and the mesh around it is read.
    @Test func binaryPLYElementsWithoutPropertiesCostNothing() throws {
        var body: [UInt8] = []
        for v: Float in [0, 0, 0, 1, 0, 0, 0, 1, 0] { withUnsafeBytes(of: v.bitPattern.littleEndian) { body += $0 } }
        body += [3]
        for i: Int32 in [0, 1, 2] { withUnsafeBytes(of: i.littleEndian) { body += $0 } }
        let header = "element nothing 1000000000000000000\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
            + "element face 1\nproperty list uchar int vertex_indices\n"
        let start = Date()
        let mesh = try PLYReader.read(binaryPLY(header, body: body), name: "empty-element.ply")
        #expect(Date().timeIntervalSince(start) < 5)
        #expect(mesh.vertexCount == 3 && mesh.triangles == [0, 1, 2])
    }

    /// fuzz-point-background: a manifest whose point counts add up past Int.max (points 2^63 − 1,
    /// background 1) trapped in the addition; each count is now checked on its own first.
    @Test func pointBackgroundCountsThatOverflowAreRefused() throws {
        let folder = try PointFixtures.temporaryFolder()
        let path = folder + "/overflow.tgz"
        let manifest = PointBackgroundManifest(name: "SYNTHETIC", note: "", seed: 0, points: Int.max, background: 1, backgroundClouds: 1,
                                               testFraction: 0.5, studentFraction: 0.1, copies: 1, classes: ["a"], sources: [],
                                               skipped: [], samples: [])
        try PointBackgroundArchive.write(manifest, points: [], to: path)
        do {
            _ = try PointBackgroundArchive(path: path)
            Issue.record("opened a manifest of 2^63 points")
        } catch let e as PointCollectionError {
            guard case let .badMetadata(p, member, _, _, found) = e else { Issue.record("\(e)"); return }
            #expect(p == path && member == "kd-point-background/manifest.json" && found.contains("points \(Int.max), background 1"))
        }
    }
}
