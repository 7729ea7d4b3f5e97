import Foundation

// Model checkpoints: every parameter and buffer of a model under its dotted name, in a safetensors
// file, laid out as other tools expect (Parameter.filePermutation), so weights trained elsewhere load.

/// Errors a checkpoint or safetensors file can cause. Every case names the file, and the tensor where
/// one is involved, with what was expected and what was found.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// Reading, writing or renaming failed at the operating-system level.
    case io(file: String, message: String)
    /// The file ends before `what`, which needs `needed` bytes; the file has `size`.
    case truncated(file: String, what: String, needed: Int, size: Int)
    /// The JSON header is not well-formed, or not the safetensors header structure.
    case malformedHeader(file: String, reason: String)
    /// A tensor's header entry lacks a field or has one of the wrong type.
    case invalidEntry(file: String, tensor: String, reason: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// The byte range's length is not product(shape) × the dtype's size.
    case byteCount(file: String, tensor: String, dtype: String, shape: [Int], expected: Int, found: Int)
    /// Byte ranges that overlap, leave gaps, or leave bytes after the last tensor.
    case offsets(file: String, tensor: String, reason: String)
    case duplicateTensor(file: String, tensor: String)
    /// The model has a tensor the file lacks.
    case missingTensor(file: String, tensor: String, expectedShape: [Int])
    /// The file has a tensor the model lacks.
    case unexpectedTensor(file: String, tensor: String, shape: [Int])
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    /// A `__metadata__` entry kd-tool needs is missing or unusable.
    case metadata(file: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .io(file, message):
            return "\(file): \(message)"
        case let .truncated(file, what, needed, size):
            return "\(file) is truncated: \(what) needs the file to have at least \(needed) bytes, it has \(size); "
                + "was it copied or downloaded completely, or was a training run interrupted while writing it?"
        case let .malformedHeader(file, reason):
            return "\(file) is not a safetensors file: \(reason)"
        case let .invalidEntry(file, tensor, reason):
            return "\(file): tensor '\(tensor)' has an invalid header entry: \(reason)"
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)' has dtype \(dtype); kd-tool reads F32, F16, BF16 and F64 "
                + "tensors and skips BOOL, U8…U64, I8…I64 and F8 ones (convert the file to one of them first)"
        case let .byteCount(file, tensor, dtype, shape, expected, found):
            return "\(file): tensor '\(tensor)' (\(dtype), shape \(shape)) should occupy \(expected) bytes, "
                + "its data_offsets span \(found); the file is corrupt"
        case let .offsets(file, tensor, reason):
            return "\(file): tensor '\(tensor)': \(reason); the file is corrupt"
        case let .duplicateTensor(file, tensor):
            return "\(file): tensor '\(tensor)' appears more than once in the header; the file is corrupt"
        case let .missingTensor(file, tensor, shape):
            return "\(file) has no tensor '\(tensor)' (expected shape \(shape)); was it written for another "
                + "model or architecture?"
        case let .unexpectedTensor(file, tensor, shape):
            return "\(file) has a tensor '\(tensor)' (shape \(shape)) that the model does not have; was it "
                + "written for another model or architecture?"
        case let .shapeMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)' has shape \(found), the model expects \(expected); was it "
                + "written for another model size or number of classes?"
        case let .metadata(file, key, reason):
            return "\(file): metadata '\(key)' \(reason)"
        }
    }
}

/// Saving and loading a model's parameters and buffers.
public enum Checkpoint {
    /// The tensors a checkpoint of `model` holds, in file layout: parameters (permuted by their
    /// `filePermutation`) and buffers (BatchNorm running statistics), by dotted name.
    public static func fileTensors(of model: Model) -> [(String, Tensor)] {
        let parameters = model.namedParameters.map { name, p in
            (name, p.filePermutation.map { p.value.permutedAxes($0) } ?? p.value)
        }
        return parameters + model.namedBuffers
    }

    /// The name and file-layout shape of every tensor a checkpoint of `model` holds.
    public static func expectedShapes(of model: Model) -> [(String, [Int])] {
        model.namedParameters.map { name, p in
            (name, p.filePermutation.map { perm in perm.map { p.value.shape[$0] } } ?? p.value.shape)
        } + model.namedBuffers.map { ($0.0, $0.1.shape) }
    }

    /// Writes `model`'s parameters and buffers to `url` atomically, with string `metadata`.
    public static func save(_ model: Model, to url: URL, metadata: [String: String] = [:]) throws {
        try Safetensors.write(fileTensors(of: model), metadata: metadata, to: url)
    }

    /// Loads every parameter and buffer of `model` from `url` and returns the file's metadata.
    ///
    /// The file must hold exactly the model's tensors with matching shapes (a missing tensor, an extra
    /// one or a different shape is an error naming it). Everything is checked before anything is
    /// assigned, so a failed load leaves the model unchanged.
    @discardableResult
    public static func load(into model: Model, from url: URL) throws -> [String: String] {
        let contents = try Safetensors.read(url)
        try assign(contents.tensors.map { ($0.name, $0.tensor) }, to: model, file: url.path)
        return contents.metadata
    }

    /// Assigns file-layout tensors to `model` (see ``load(into:from:)``); `file` names their source.
    public static func assign(_ tensors: [(String, Tensor)], to model: Model, file: String) throws {
        let byName = Dictionary(tensors, uniquingKeysWith: { a, _ in a })
        let expected = expectedShapes(of: model)
        for (name, shape) in expected {
            guard let t = byName[name] else { throw CheckpointError.missingTensor(file: file, tensor: name, expectedShape: shape) }
            guard t.shape == shape else { throw CheckpointError.shapeMismatch(file: file, tensor: name, expected: shape, found: t.shape) }
        }
        let known = Set(expected.map(\.0))
        if let (name, t) = tensors.first(where: { !known.contains($0.0) }) {
            throw CheckpointError.unexpectedTensor(file: file, tensor: name, shape: t.shape)
        }
        for (name, p) in model.namedParameters {
            let t = byName[name]!
            if let perm = p.filePermutation {
                p.value.assign(t.permutedAxes(inversePermutation(perm)))
            } else {
                p.value.assign(t)
            }
        }
        for (name, b) in model.namedBuffers { b.assign(byName[name]!) }
    }

    /// The permutation that undoes `permutation`: `inverse[permutation[i]] = i`.
    public static func inversePermutation(_ permutation: [Int]) -> [Int] {
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, p) in permutation.enumerated() { inverse[p] = i }
        return inverse
    }
}

extension Tensor {
    /// A new tensor with the axes reordered: result axis i is this tensor's axis `permutation[i]`
    /// (NumPy's `transpose(permutation)`, PyTorch's `permute`).
    ///
    /// ```
    /// result[i₀, …, iₙ₋₁] = self[j]  where j[permutation[k]] = i_k
    /// ```
    public func permutedAxes(_ permutation: [Int]) -> Tensor {
        let n = rank
        precondition(permutation.count == n && Set(permutation) == Set(0..<n),
                     "\(permutation) is not a permutation of the \(n) axes of \(shape)")
        let outShape = permutation.map { shape[$0] }
        let out = Tensor(shape: outShape)
        guard count > 0 else { return out }
        var strides = [Int](repeating: 1, count: n)
        for k in stride(from: n - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * shape[k + 1] }
        // The source stride of each result axis; walk the result in row-major order with an odometer.
        let sourceStride = permutation.map { strides[$0] }
        let inner = n == 0 ? 1 : outShape[n - 1], innerStride = n == 0 ? 0 : sourceStride[n - 1]
        var index = [Int](repeating: 0, count: max(n - 1, 0))
        var source = 0, dst = out.data
        let src = data
        for _ in 0..<(count / inner) {
            for i in 0..<inner { dst[i] = src[source + i * innerStride] }
            dst += inner
            // advance the odometer over the outer axes
            var k = n - 2
            while k >= 0 {
                index[k] += 1
                source += sourceStride[k]
                if index[k] < outShape[k] { break }
                source -= sourceStride[k] * outShape[k]
                index[k] = 0
                k -= 1
            }
        }
        return out
    }
}
