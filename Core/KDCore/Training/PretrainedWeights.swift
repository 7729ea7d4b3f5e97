import Foundation

/// Weights trained elsewhere: a safetensors file (a kd-tool checkpoint, or a PyTorch state dict exported
/// with `safetensors.torch.save_file`) read through a family's ``PretrainedMapping``.
///
/// Every tensor the model needs must be present with its file-layout shape; a missing tensor or a shape
/// mismatch is an error naming the tensor and both shapes, and nothing is assigned unless everything fits.
/// Tensors the mapping leaves over (a pooler, a language-model head, BatchNorm's `num_batches_tracked`)
/// are reported, not silently dropped.
public enum PretrainedWeights {
    public struct Report: Sendable, Equatable {
        /// Tensors assigned to the model.
        public var loaded: Int
        /// File tensors the model does not use, by file name.
        public var unused: [String]
    }

    @discardableResult
    public static func load(into model: Model, from url: URL, mapping: PretrainedMapping) throws -> Report {
        let contents = try Safetensors.read(url)
        var byName: [String: Tensor] = [:]
        for (name, t) in contents.tensors { byName[name] = t }
        let (mapped, unusedByMapping) = try mapping.map(byName)
        let expected = Checkpoint.expectedShapes(of: model)
        let needed = Set(expected.map(\.0))
        // Integer and boolean tensors (BatchNorm's num_batches_tracked) are validated by the reader and reported here.
        var usable: [(String, Tensor)] = [], unused = unusedByMapping + contents.ignored.map(\.name)
        for (name, t) in mapped {
            if needed.contains(name) { usable.append((name, t)) } else { unused.append(name) }
        }
        let fromFile = usable.count
        // Parameters the mapping declares fresh (task heads) keep their initial values when the file lacks them.
        if !mapping.freshPrefixes.isEmpty {
            let given = Set(usable.map(\.0))
            for (name, p) in model.namedParameters
            where !given.contains(name) && mapping.freshPrefixes.contains(where: { name.hasPrefix($0) }) {
                usable.append((name, p.filePermutation.map { p.value.permutedAxes($0) } ?? p.value.copy()))
            }
        }
        try Checkpoint.assign(usable, to: model, file: url.path)
        return Report(loaded: fromFile, unused: unused.sorted())
    }
}
