import Foundation

/// Samples of one split held in one contiguous tensor, for training and evaluation.
/// Samples that fail to load are reported (``skipped``) and left out; the rest go on.
public final class InMemoryData: TrainingData {
    public let inputs: Tensor        // (N, sample shape)
    public let labels: [Int]
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
            do { loaded.append(try source.sample(split, i)); loadedIndices.append(i) } catch { skipped.append((i, "\(error)")) }
        }
        self.indices = loadedIndices
        inputs = Tensor(shape: [loaded.count] + shape)
        for (j, s) in loaded.enumerated() { (inputs.data + j * size).update(from: s.input.data, count: size) }
        labels = loaded.map(\.label)
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
}
