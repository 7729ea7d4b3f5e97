import Foundation

/// Samples of one split held in one contiguous tensor, for training and evaluation.
/// Samples that fail to load are reported (``skipped``) and left out; the rest go on.
public final class InMemoryData: TrainingData {
    public let inputs: Tensor        // (N, sample shape)
    /// Class labels (−1 for span samples).
    public let labels: [Int]
    /// Span targets, for span tasks.
    public let spanTargets: [(start: Int, end: Int)]?
    /// Real lengths of padded samples; nil when no sample is padded.
    public let sampleLengths: [Int]?
    public let ids: [String]
    /// The split index of each loaded sample.
    public let indices: [Int]
    public let skipped: [(index: Int, reason: String)]
    public var count: Int { labels.count }
    let sampleSize: Int

    public init(_ source: DatasetSource, split: Split, indices: [Int]? = nil) {
        let wanted = indices ?? Array(0..<source.count(split))
        let shape = source.sampleShape
        let size = shape.reduce(1, *)
        var loaded: [Sample] = []
        var loadedIndices: [Int] = []
        var skipped: [(Int, String)] = []
        for i in wanted {
            do {
                let s = try source.sample(split, i)
                guard s.input.shape == shape else {
                    skipped.append((i, "\(s.id): shape \(s.input.shape), the dataset declares \(shape)")); continue
                }
                if case .span = s.target, case .classification = source.task {
                    skipped.append((i, "\(s.id): a span target in a classification dataset")); continue
                }
                loaded.append(s); loadedIndices.append(i)
            } catch { skipped.append((i, "\(error)")) }
        }
        self.indices = loadedIndices
        inputs = Tensor(shape: [loaded.count] + shape)
        for (j, s) in loaded.enumerated() { (inputs.data + j * size).update(from: s.input.data, count: size) }
        labels = loaded.map(\.label)
        let spans = loaded.compactMap { s -> (start: Int, end: Int)? in
            if case let .span(a, b) = s.target { return (a, b) }
            return nil
        }
        spanTargets = spans.isEmpty ? nil : spans
        let firstAxis = shape.first ?? 1
        sampleLengths = loaded.contains { $0.length != nil } ? loaded.map { $0.length ?? firstAxis } : nil
        ids = loaded.map(\.id)
        self.skipped = skipped
        sampleSize = size
    }

    public func batch(_ indices: [Int], into x: Tensor, labels out: inout [Int]) {
        x.resize([indices.count] + Array(inputs.shape.dropFirst()))
        out.removeAll(keepingCapacity: true)
        for (j, i) in indices.enumerated() {
            (x.data + j * sampleSize).update(from: inputs.data + i * sampleSize, count: sampleSize)
            out.append(labels[i])
        }
    }

    public func lengths(_ indices: [Int]) -> [Int]? { sampleLengths.map { l in indices.map { l[$0] } } }
    public func spans(_ indices: [Int]) -> [(start: Int, end: Int)]? { spanTargets.map { t in indices.map { t[$0] } } }
}
