import Foundation

// Evaluating a trained model: accuracy, and exact match and F1 for span targets.

extension Trainer {
    /// The fraction of `data` that `model` classifies correctly (inference mode, samples in order); for span
    /// targets, the exact-match rate of ``evaluateSpans(_:on:batchSize:)``.
    public static func evaluate(_ model: Model, on data: TrainingData, batchSize: Int = 256) -> Double {
        guard data.count > 0 else { return 0 }
        if data.spans([0]) != nil { return evaluateSpans(model, on: data, batchSize: batchSize).exactMatch }
        let context = model.makeContext()
        context.training = false
        let x = Tensor(shape: [min(batchSize, data.count)] + model.inputShape)
        var labels: [Int] = []
        var correct = 0
        for start in stride(from: 0, to: data.count, by: batchSize) {
            let indices = Array(start..<min(start + batchSize, data.count))
            x.resize([indices.count] + model.inputShape)
            labels = [Int](repeating: 0, count: indices.count)
            data.batch(indices, into: x, labels: &labels)
            context.validLengths = data.lengths(indices)
            correct += Loss.correctCount(logits: model.forward(x, context), labels: labels)
        }
        return Double(correct) / Double(data.count)
    }

    /// Exact match and mean F1 over token positions of the predicted spans (``Loss/spanScores(logits:spans:lengths:)``).
    public static func evaluateSpans(_ model: Model, on data: TrainingData, batchSize: Int = 256) -> (exactMatch: Double, f1: Double) {
        guard data.count > 0 else { return (0, 0) }
        let context = model.makeContext()
        context.training = false
        let x = Tensor(shape: [min(batchSize, data.count)] + model.inputShape)
        var labels: [Int] = []
        var exact = 0, f1 = 0.0
        for start in stride(from: 0, to: data.count, by: batchSize) {
            let indices = Array(start..<min(start + batchSize, data.count))
            x.resize([indices.count] + model.inputShape)
            labels = [Int](repeating: 0, count: indices.count)
            data.batch(indices, into: x, labels: &labels)
            let lengths = data.lengths(indices)
            context.validLengths = lengths
            guard let spans = data.spans(indices) else { continue }
            let s = Loss.spanScores(logits: model.forward(x, context), spans: spans, lengths: lengths)
            exact += s.exact; f1 += s.f1
        }
        return (Double(exact) / Double(data.count), f1 / Double(data.count))
    }
}
