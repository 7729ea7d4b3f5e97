import Foundation

// Model checkpoints: every parameter and buffer of a model under its dotted name, in a safetensors
// file, laid out as other tools expect (Parameter.filePermutation), so weights trained elsewhere load.

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
