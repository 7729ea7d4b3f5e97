import Foundation
import Testing
import _TestSupport
@testable import KDCore

/// Weights trained elsewhere: a PyTorch state dict of the same architecture, exported to safetensors, loads
/// through the identity mapping (integer buffers reported, not refused); a mismatch names the tensor and
/// both shapes; a declared mapping renames and transforms.
@Suite struct PretrainedWeightsTests {
    static func model(classes: Int = 3) -> Model {
        var g = SeededGenerator(seed: 5)
        return Model(name: "tiny", inputShape: [4, 4, 2], layers: [
            ("conv1", Conv2D(2, 3, kernel: 3, padding: 1, generator: &g)), ("bn1", BatchNorm(3)), ("relu1", ReLU()),
            ("flatten", Flatten()), ("fc", Linear(48, classes, generator: &g)),
        ])
    }

    /// Safetensors bytes as PyTorch's `save_file` writes them: F32 tensors in file layout plus an I64 scalar.
    static func stateDict(_ tensors: [(String, [Int], [Float])], int64: [(String, Int64)]) -> [UInt8] {
        var header: [String] = [], data: [UInt8] = []
        for (name, shape, values) in tensors {
            let begin = data.count
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
            header.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(begin),\(data.count)]}")
        }
        for (name, v) in int64 {
            let begin = data.count
            withUnsafeBytes(of: v.littleEndian) { data += $0 }
            header.append("\"\(name)\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[\(begin),\(data.count)]}")
        }
        var json = Array(("{" + header.joined(separator: ",") + "}").utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        return out + json + data
    }

    static func write(_ bytes: [UInt8]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pretrained-\(UUID().uuidString).safetensors")
        try Data(bytes).write(to: url)
        return url
    }

    @Test func aPyTorchStateDictOfTheSameArchitectureLoads() throws {
        let model = Self.model()
        var g = SeededGenerator(seed: 9)
        var tensors: [(String, [Int], [Float])] = []
        for (name, shape) in Checkpoint.expectedShapes(of: model) {
            var v = [Float](repeating: 0, count: shape.reduce(1, *))
            v.withUnsafeMutableBufferPointer { g.fillGaussian($0.baseAddress!, count: $0.count) }
            tensors.append((name, shape, v))
        }
        let url = try Self.write(Self.stateDict(tensors, int64: [("bn1.num_batches_tracked", 1234)]))
        let report = try PretrainedWeights.load(into: model, from: url, mapping: .identity)
        #expect(report.loaded == tensors.count)
        #expect(report.unused == ["bn1.num_batches_tracked"])
        // The conv weight arrives in PyTorch's (Out, In, kH, kW) layout and is stored as (Out, kH, kW, In).
        let file = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0, $0.2) })
        let written = Dictionary(uniqueKeysWithValues: Checkpoint.fileTensors(of: model).map { ($0.0, $0.1.array) })
        for (name, values) in file { #expect(written[name] == values, "\(name) did not round-trip") }
    }

    @Test func aMismatchNamesTheTensorAndBothShapes() throws {
        let model = Self.model(classes: 3)
        let other = Self.model(classes: 5)
        let tensors = Checkpoint.fileTensors(of: other).map { ($0.0, $0.1.shape, $0.1.array) }
        let url = try Self.write(Self.stateDict(tensors, int64: []))
        let before = model.namedParameters.map { $0.1.value.array }
        #expect(throws: CheckpointError.shapeMismatch(file: url.path, tensor: "fc.weight", expected: [3, 48], found: [5, 48])) {
            try PretrainedWeights.load(into: model, from: url, mapping: .identity)
        }
        #expect(model.namedParameters.map { $0.1.value.array } == before, "a failed load must leave the model unchanged")
    }

    @Test func aDeclaredMappingRenamesAndReportsWhatItDrops() throws {
        let model = Self.model()
        let tensors = Checkpoint.fileTensors(of: model).map { ("encoder." + $0.0, $0.1.shape, $0.1.array) }
            + [("pooler.dense.weight", [2, 2], [1, 2, 3, 4])]
        let url = try Self.write(Self.stateDict(tensors, int64: []))
        let mapping = PretrainedMapping(summary: "encoder.* → *") { file in
            var mapped: [(String, Tensor)] = [], unused: [String] = []
            for (name, t) in file.sorted(by: { $0.key < $1.key }) {
                if name.hasPrefix("encoder.") { mapped.append((String(name.dropFirst(8)), t)) } else { unused.append(name) }
            }
            return (mapped, unused)
        }
        let report = try PretrainedWeights.load(into: model, from: url, mapping: mapping)
        #expect(report.loaded == tensors.count - 1 && report.unused == ["pooler.dense.weight"])
    }
}
