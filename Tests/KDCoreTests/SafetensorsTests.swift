import Foundation
import KDCore
import Testing
import _TestSupport

/// A stand-in for Conv2D: a 4-D weight kept as (Out, kH, kW, In) in memory and written as PyTorch's
/// (Out, In, kH, kW), plus a running-statistics buffer, so checkpoints exercise permutation and buffers.
private final class PermutedWeights: Layer {
    let kind = "permuted"
    let weight = Parameter("weight", shape: [2, 3, 3, 4])
    let runningMean = Tensor(shape: [4])
    init() { weight.filePermutation = [0, 3, 1, 2] }
    var parameters: [Parameter] { [weight] }
    var buffers: [(String, Tensor)] { [("running_mean", runningMean)] }
    func outputShape(for inputShape: [Int]) -> [Int] { inputShape }
    func forward(_ x: Tensor, _ c: LayerContext) -> Tensor { x }
    func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor { dy }
}

private func makeModel(seed: UInt64, fcInputs: Int = 3, extraLayer: Bool = false) -> Model {
    var g = SeededGenerator(seed: seed)
    let permuted = PermutedWeights()
    g.fillGaussian(permuted.weight.value.data, count: permuted.weight.value.count)
    g.fillGaussian(permuted.runningMean.data, count: 4)
    var layers: [(String, Layer)] = [("conv", permuted), ("fc", Linear(fcInputs, 2, generator: &g))]
    if extraLayer { layers.append(("head", Linear(2, 2, generator: &g))) }
    return Model(name: "tiny", inputShape: [fcInputs], layers: layers)
}

private func bits(_ model: Model) -> [String: [UInt32]] {
    var out: [String: [UInt32]] = [:]
    for (n, p) in model.namedParameters { out[n] = p.value.array.map(\.bitPattern) }
    for (n, b) in model.namedBuffers { out[n] = b.array.map(\.bitPattern) }
    return out
}

/// A fresh temporary folder, removed by the caller.
private func temporaryFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("kd-safetensors-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Safetensors bytes from a header string and raw data, as another tool might write them (no padding).
private func handMade(_ header: String, _ data: [UInt8]) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
    return out + h + data
}

private func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

private func decode(_ bytes: [UInt8]) throws -> Safetensors.Contents {
    try bytes.withUnsafeBytes { try Safetensors.decode($0, file: "test.safetensors") }
}

@Suite struct SafetensorsTests {
    @Test func roundTripIsBitIdenticalIncludingPermutedParametersAndBuffers() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = makeModel(seed: 1)
        // Values that only survive a bit-exact path: −0, a subnormal, infinity, a NaN with a payload.
        let w = source.namedParameters.first { $0.0 == "conv.weight" }!.1.value
        w[0] = -0.0; w[1] = Float(bitPattern: 0x0000_0003); w[2] = .infinity; w[3] = Float(bitPattern: 0x7FC1_2345)
        let url = folder.appendingPathComponent("model.safetensors")
        try Checkpoint.save(source, to: url, metadata: ["epoch": "3", "note": "quote \" and\nnewline"])

        // The file holds the weight in PyTorch layout: file[o, i, h, w] = memory[o, h, w, i].
        let contents = try Safetensors.read(url)
        #expect(contents.tensors.map(\.name) == ["conv.running_mean", "conv.weight", "fc.bias", "fc.weight"])
        #expect(contents.metadata == ["epoch": "3", "note": "quote \" and\nnewline"])
        let file = contents["conv.weight"]!
        #expect(file.shape == [2, 4, 3, 3])
        var mismatches = 0
        for o in 0..<2 { for i in 0..<4 { for h in 0..<3 { for x in 0..<3 {
            let f = file[((o * 4 + i) * 3 + h) * 3 + x], m = w[((o * 3 + h) * 3 + x) * 4 + i]
            if f.bitPattern != m.bitPattern { mismatches += 1 }
        } } } }
        #expect(mismatches == 0, "\(mismatches) elements of the permuted weight are misplaced")

        // Header length is a multiple of 8 and the offsets are contiguous (the reference layout).
        let raw = try Data(contentsOf: url)
        let headerLength = raw.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        #expect(headerLength % 8 == 0)
        #expect(raw.count == 8 + Int(headerLength) + 4 * (72 + 4 + 2 + 6))

        let target = makeModel(seed: 2)
        #expect(bits(target) != bits(source))
        let metadata = try Checkpoint.load(into: target, from: url)
        #expect(metadata["epoch"] == "3")
        #expect(bits(target) == bits(source))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0 != "model.safetensors" }
        #expect(leftovers.isEmpty, "temporary files left behind: \(leftovers)")
    }

    @Test func readsFilesWrittenByOtherTools() throws {
        // Unsorted names, metadata in the middle, fields in another order, no padding, data not in name
        // order, and F16 / BF16 / F64 data.
        let header = """
            {"d_f32": {"shape": [1, 2], "dtype": "F32", "data_offsets": [20, 28]},
             "__metadata__": {"format": "pt", "source": "h\\u00e9llo"},
             "b_half": {"data_offsets": [8, 20], "shape": [2, 3], "dtype": "F16"},
             "a_bf16": {"dtype": "BF16", "data_offsets": [28, 32], "shape": [2]},
             "c_double": {"dtype": "F64", "shape": [], "data_offsets": [0, 8]}}
            """
        let data = littleEndianBytes([Double(0.1).bitPattern])
            + littleEndianBytes([UInt16(0x3C00), 0xC000, 0x3555, 0x0001, 0x7C00, 0x8000])
            + littleEndianBytes([Float(1.5).bitPattern, Float(-0.25).bitPattern])
            + littleEndianBytes([UInt16(0x3F80), 0xC0A0])
        let contents = try decode(handMade(header, data))
        #expect(contents.metadata == ["format": "pt", "source": "héllo"])
        #expect(contents.tensors.map(\.name) == ["c_double", "b_half", "d_f32", "a_bf16"])
        #expect(contents.dtypes["b_half"] == .f16 && contents.dtypes["c_double"] == .f64)
        #expect(contents["c_double"]!.shape == [] && contents["c_double"]![0] == Float(0.1))
        let half = contents["b_half"]!
        #expect(half.shape == [2, 3])
        #expect(Array(half.array.prefix(5)) == [1, -2, 0.333251953125, 0x1p-24, .infinity])
        #expect(half[5].bitPattern == 0x8000_0000)   // −0
        #expect(contents["d_f32"]!.array == [1.5, -0.25])
        #expect(contents["a_bf16"]!.array == [1, -5])
    }

    /// A PyTorch state dict keeps an I64 `num_batches_tracked` beside every BatchNorm; U8 and BOOL
    /// buffers occur too. The float tensors are read, the others listed as ignored, none refused.
    @Test func integerAndBooleanTensorsBesideTheFloatsAreSkippedNotRefused() throws {
        let header = """
            {"bn.num_batches_tracked": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]},
             "bn.weight": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
             "mask": {"dtype": "U8", "shape": [3], "data_offsets": [16, 19]},
             "flag": {"dtype": "BOOL", "shape": [1], "data_offsets": [19, 20]},
             "ids": {"dtype": "I32", "shape": [1], "data_offsets": [20, 24]}}
            """
        let data = littleEndianBytes([Int64(1234)]) + littleEndianBytes([Float(1).bitPattern, Float(2).bitPattern])
            + [1, 0, 1] + [1] + littleEndianBytes([Int32(-7)])
        let contents = try decode(handMade(header, data))
        #expect(contents.tensors.map(\.name) == ["bn.weight"])
        #expect(contents["bn.weight"]!.array == [1, 2])
        #expect(contents.ignored.map(\.name) == ["bn.num_batches_tracked", "mask", "flag", "ids"])
        #expect(contents.ignored.map(\.dtype) == ["I64", "U8", "BOOL", "I32"])
        #expect(contents.ignored[0].shape == [])
        // Their offsets still tile the data: a missing byte after them is reported.
        #expect(throws: CheckpointError.self) { _ = try decode(handMade(header, Array(data.dropLast()))) }
    }

    @Test func loadsAForeignCheckpointIntoAModel() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A PyTorch-style Linear(3 → 2) saved as F16 weight and BF16 bias, bias listed first.
        let header = #"{"fc.bias":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},"__metadata__":{"format":"pt"},"fc.weight":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}}"#
        let data = littleEndianBytes([UInt16(0x3C00), 0x4000, 0x4200, 0xBC00, 0xC000, 0x3800])   // 1 2 3 −1 −2 0.5
            + littleEndianBytes([UInt16(0x3F00), 0xBF80])                                           // 0.5 −1
        let url = folder.appendingPathComponent("foreign.safetensors")
        try Data(handMade(header, data)).write(to: url)
        var g = SeededGenerator(seed: 3)
        let model = Model(name: "lin", inputShape: [3], layers: [("fc", Linear(3, 2, generator: &g))])
        #expect(try Checkpoint.load(into: model, from: url) == ["format": "pt"])
        let y = model.forward(Tensor(shape: [1, 3], values: [1, 1, 1]), model.makeContext())
        #expect(y.array == [6.5, -3.5])
    }

    @Test func truncatedFilesAreReportedAsTruncated() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("m.safetensors")
        try Checkpoint.save(makeModel(seed: 4), to: url)
        let full = try Data(contentsOf: url)
        for keep in [5, 40, full.count - 3] {
            let cut = folder.appendingPathComponent("cut\(keep).safetensors")
            try full.prefix(keep).write(to: cut)
            do {
                try Checkpoint.load(into: makeModel(seed: 5), from: cut)
                Issue.record("a file cut to \(keep) of \(full.count) bytes loaded")
            } catch let error as CheckpointError {
                guard case let .truncated(file, what, needed, size) = error else {
                    Issue.record("cut to \(keep): expected .truncated, got \(error)"); continue
                }
                #expect(file == cut.path && size == keep && needed > size)
                if keep == full.count - 3 { #expect(what.contains("fc.weight"), "\(what)") }   // the last tensor by name
                #expect(error.description.contains("truncated"))
                print(error)
            }
        }
    }

    @Test func shapeMissingAndExtraTensorsNameTheTensor() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("m.safetensors")
        try Checkpoint.save(makeModel(seed: 6), to: url)
        let file = url.path

        let wider = makeModel(seed: 7, fcInputs: 4)
        let before = bits(wider)
        #expect(throws: CheckpointError.shapeMismatch(file: file, tensor: "fc.weight", expected: [2, 4], found: [2, 3])) {
            try Checkpoint.load(into: wider, from: url)
        }
        #expect(bits(wider) == before, "a failed load changed the model")
        #expect(throws: CheckpointError.missingTensor(file: file, tensor: "head.weight", expectedShape: [2, 2])) {
            try Checkpoint.load(into: makeModel(seed: 8, extraLayer: true), from: url)
        }
        var g = SeededGenerator(seed: 9)
        let fewer = Model(name: "fc-only", inputShape: [3], layers: [("fc", Linear(3, 2, generator: &g))])
        #expect(throws: CheckpointError.unexpectedTensor(file: file, tensor: "conv.running_mean", shape: [4])) {
            try Checkpoint.load(into: fewer, from: url)
        }
        print(CheckpointError.shapeMismatch(file: file, tensor: "fc.weight", expected: [2, 4], found: [2, 3]))
    }

    @Test func malformedHeadersAreRejected() throws {
        let f32 = littleEndianBytes([Float(1).bitPattern, Float(2).bitPattern])
        func entry(_ name: String, _ begin: Int, _ end: Int, dtype: String = "F32", shape: String = "[2]") -> String {
            "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(end)]}"
        }
        func expectError(_ bytes: [UInt8], _ check: (CheckpointError) -> Bool, _ what: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try decode(bytes)
                Issue.record("\(what): decoded without an error", sourceLocation: sourceLocation)
            } catch let e as CheckpointError {
                #expect(check(e), "\(what): \(e)", sourceLocation: sourceLocation)
            } catch {
                Issue.record("\(what): unexpected \(error)", sourceLocation: sourceLocation)
            }
        }
        func malformed(_ e: CheckpointError) -> Bool { if case .malformedHeader = e { return true }; return false }

        var garbage = SeededGenerator(seed: 10)
        let noise = (0..<64).map { _ in UInt8(truncatingIfNeeded: garbage.next()) }
        expectError(handMade("{" + String(decoding: noise, as: UTF8.self), []), malformed, "random bytes after '{'")
        expectError(handMade("[1, 2]", []), malformed, "array header")
        expectError(handMade("{\"a\": {\"dtype\": \"F32\",}", f32), malformed, "trailing comma")
        expectError(handMade("{" + entry("a", 0, 8) + "} x", f32), malformed, "text after the object")
        expectError(littleEndianBytes([UInt64(1) << 40]) + f32, malformed, "absurd header length")
        expectError([1, 2, 3], { if case .truncated = $0 { return true }; return false }, "shorter than 8 bytes")
        expectError(handMade("{" + entry("a", 0, 8) + "," + entry("a", 0, 8) + "}", f32),
                    { $0 == .duplicateTensor(file: "test.safetensors", tensor: "a") }, "duplicate name")
        expectError(handMade("{" + entry("a", 0, 8) + "," + entry("b", 4, 12) + "}", f32 + f32),
                    { if case let .offsets(_, t, r) = $0 { return t == "b" && r.contains("overlap") }; return false }, "overlap")
        expectError(handMade("{" + entry("a", 0, 8) + "," + entry("b", 12, 20) + "}", f32 + [0, 0, 0, 0] + f32),
                    { if case let .offsets(_, t, r) = $0 { return t == "b" && r.contains("gap") }; return false }, "gap")
        expectError(handMade("{" + entry("a", 0, 8) + "}", f32 + [0, 0, 0, 0]),
                    { if case .offsets = $0 { return true }; return false }, "bytes after the last tensor")
        expectError(handMade("{" + entry("a", 0, 8, shape: "[3]") + "}", f32),
                    { $0 == .byteCount(file: "test.safetensors", tensor: "a", dtype: "F32", shape: [3], expected: 12, found: 8) },
                    "byte count")
        expectError(handMade("{" + entry("a", 0, 8, dtype: "C64") + "}", f32),
                    { $0 == .unsupportedDType(file: "test.safetensors", tensor: "a", dtype: "C64") }, "dtype")
        // Skipped dtypes are validated all the same: 2 I64 values are 16 bytes, not 8.
        expectError(handMade("{" + entry("a", 0, 8, dtype: "I64") + "}", f32),
                    { $0 == .byteCount(file: "test.safetensors", tensor: "a", dtype: "I64", shape: [2], expected: 16, found: 8) },
                    "I64 byte count")
        expectError(handMade("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", f32),
                    { if case let .invalidEntry(_, t, r) = $0 { return t == "a" && r.contains("data_offsets") }; return false },
                    "missing offsets")
        expectError(handMade("{" + entry("a", 0, 8, shape: "[-2]") + "}", f32),
                    { if case .invalidEntry = $0 { return true }; return false }, "negative dimension")
        expectError(handMade("{\"__metadata__\":{\"k\":1}," + entry("a", 0, 8) + "}", f32), malformed, "non-string metadata")
    }

    @Test func permutedAxesMatchesIndexArithmetic() {
        let t = randomTensor([2, 3, 4, 5], seed: 11)
        let perm = [2, 0, 3, 1]
        let p = t.permutedAxes(perm)
        #expect(p.shape == [4, 2, 5, 3])
        var wrong = 0
        for a in 0..<4 { for b in 0..<2 { for c in 0..<5 { for d in 0..<3 {
            // result[a, b, c, d] = t[j] with j[perm[k]] = i_k: j = (b, d, a, c)
            if p[((a * 2 + b) * 5 + c) * 3 + d] != t[((b * 3 + d) * 4 + a) * 5 + c] { wrong += 1 }
        } } } }
        #expect(wrong == 0)
        #expect(p.permutedAxes(Checkpoint.inversePermutation(perm)).array == t.array)
        #expect(Tensor(shape: [3], values: [1, 2, 3]).permutedAxes([0]).array == [1, 2, 3])
    }
}
