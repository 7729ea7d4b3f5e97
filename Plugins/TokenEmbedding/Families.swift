import Foundation
import KDCore

/// BERT-style encoders over token ids (Devlin et al. 2019):
///
/// ```
/// ids (B, T) → embed: word embedding (V, D) → positions: + position embedding → embed_norm: LayerNorm
///   → encoder0 … encoder{N−2}, hidden: post-LN encoder layers (attention with the key-padding mask)
///   → classification: cls (position 0) → pooler: Linear(D, D) → pooler_act: tanh → classifier: Linear(D, C)
///     span:           span: Linear(D, 2) per position, output (B, T, 2) = start and end logits
/// ```
/// The ids enter as Float values of the (T) sample vector (``Embedding`` rounds them). The analysed input
/// is `embed`'s output (Docs/Method.md §1): every token's D embedding dimensions share its σ. Segment
/// (token-type) embeddings: every position has type 0; a pretrained type-0 vector is added to the position
/// embeddings when weights are loaded, so a sentence computes exactly what BERT computes with
/// `token_type_ids = 0` (a SQuAD pair's context gets type 0 too; fine-tuning adapts to it).
/// No dropout. LayerNorm ε = 1e-12 (BERT's).
public enum BERTFamilies {
    public static var all: [ModelFamily] { [bertS, miniLM] }

    /// The layer names of an N-layer encoder: encoder0 … encoder{N−2}, then `hidden` (the last).
    static func encoderNames(_ n: Int) -> [String] { (0..<n).map { $0 == n - 1 ? "hidden" : "encoder\($0)" } }

    public struct Architecture: Sendable, Equatable {
        public var vocabulary: Int, dimension: Int, heads: Int, layers: Int, feedForward: Int, positions: Int
    }

    /// Builds the network for `request` (sample shape (T)).
    public static func build(_ a: Architecture, name: String, request r: ModelRequest) throws -> Model {
        guard r.inputShape.count == 1, r.inputShape[0] >= 2, r.inputShape[0] <= a.positions else {
            throw PluginError.badOption("input", plugin: "token-embedding", value: "\(r.inputShape)",
                                        expected: "a (T) vector of token ids with 2 ≤ T ≤ \(a.positions)")
        }
        var g = SeededGenerator(seed: r.seed)
        let d = a.dimension
        var layers: [(String, Layer)] = [
            ("embed", Embedding(vocabulary: a.vocabulary, dimension: d, standardDeviation: 0.02, generator: &g)),
            ("positions", PositionalEmbedding(length: a.positions, dimension: d)),
            ("embed_norm", LayerNorm(d, epsilon: 1e-12)),
        ]
        for n in encoderNames(a.layers) {
            layers.append((n, PostLNEncoderLayer(dimension: d, heads: a.heads, feedForward: a.feedForward, generator: &g)))
        }
        switch r.task {
        case let .classification(classes):
            layers += [("cls", FirstToken()), ("pooler", Linear(d, d, generator: &g)), ("pooler_act", Tanh()),
                       ("classifier", Linear(d, classes, generator: &g))]
        case .span:
            layers.append(("span", Linear(d, 2, generator: &g)))
        }
        return Model(name: name, inputShape: r.inputShape, layers: layers)
    }

    static func vocabularySize(_ r: ModelRequest) throws -> Int {
        guard let s = r.resources["vocabulary-size"] else { return 30522 }
        guard let v = Int(s), v > 0 else {
            throw PluginError.badOption("vocabulary-size", plugin: "token-embedding", value: s, expected: "a positive integer")
        }
        return v
    }

    /// A small BERT trained from scratch: D = 128·width (rounded to a multiple of the 4 heads, at least 16),
    /// 2 layers, feed-forward 4D, the dataset's vocabulary, positions = T.
    public static let bertS = ModelFamily(
        name: "bert-s", summary: "small post-LN BERT from scratch (D = 128·width, 4 heads, 2 layers, FFN 4D)",
        taps: ["hidden", "encoder0"], analysedInput: "embed"
    ) { r in
        let d = max(16, Int((128 * r.width / 4).rounded()) * 4)
        let a = Architecture(vocabulary: try vocabularySize(r), dimension: d, heads: 4, layers: 2, feedForward: 4 * d,
                             positions: r.inputShape.first ?? 1)
        return try build(a, name: "bert-s", request: r)
    }

    /// MiniLM-L6-H384 (Wang et al. 2020; the all-MiniLM-L6-v2 sentence encoder's weights): 6 layers, D 384,
    /// 12 heads, FFN 1536, vocabulary 30522, 512 positions. Width is ignored (the architecture is fixed).
    public static let miniLMArchitecture = Architecture(vocabulary: 30522, dimension: 384, heads: 12, layers: 6,
                                                        feedForward: 1536, positions: 512)

    /// Width w = 1 is MiniLM-L6-H384 exactly (the teacher, loadable from its weights); w < 1 is a small
    /// student of the same layout and vocabulary: D = 384·w rounded to a multiple of 32 (at least 32), head
    /// width 32 as in MiniLM, 2 layers, FFN 4D, 512 positions. Students and teachers of one family can then
    /// be distilled at `hidden` (an adapter maps D to 384).
    public static let miniLM = ModelFamily(
        name: "minilm", summary: "MiniLM-L6-H384 at width 1 (BERT layout, 6 layers, D 384, 12 heads; fine-tuned from model.safetensors); width w < 1: 2 layers, D = 384w",
        taps: ["hidden", "encoder0"], analysedInput: "embed", pretrained: bertMapping(layers: 6)
    ) { r in
        let v = try vocabularySize(r)
        guard v == miniLMArchitecture.vocabulary else {
            throw PluginError.badOption("vocab", plugin: "token-embedding", value: "\(v) tokens",
                                        expected: "MiniLM's own vocab.txt (30522 tokens)")
        }
        if r.width >= 1 { return try build(miniLMArchitecture, name: "minilm", request: r) }
        let d = max(32, Int((384 * r.width / 32).rounded()) * 32)
        let a = Architecture(vocabulary: v, dimension: d, heads: d / 32, layers: 2, feedForward: 4 * d, positions: 512)
        return try build(a, name: "minilm-w\(d)", request: r)
    }

    /// HuggingFace BERT names → this family's names. Query, key and value (D, D) are stacked into in_proj
    /// (3D, D) in that order; the type-0 token-type vector is added to every position embedding. The
    /// task heads (pooler, classifier, span) stay freshly initialised; unused file tensors (the pretrained
    /// pooler, token type 1 via the sum, `position_ids`) are reported.
    public static func bertMapping(layers: Int) -> PretrainedMapping {
        PretrainedMapping(summary: "HuggingFace BERT names (embeddings.*, encoder.layer.N.*); heads fresh",
                          freshPrefixes: ["pooler.", "classifier.", "span."]) { file in
            var used = Set<String>()
            func take(_ name: String) throws -> Tensor {
                guard let t = file[name] else {
                    throw CheckpointError.missingTensor(file: "pretrained weights", tensor: name, expectedShape: [])
                }
                used.insert(name)
                return t
            }
            // Older BERT checkpoints name LayerNorm parameters gamma/beta.
            func norm(_ prefix: String) throws -> (Tensor, Tensor) {
                if file[prefix + ".weight"] != nil { return (try take(prefix + ".weight"), try take(prefix + ".bias")) }
                return (try take(prefix + ".gamma"), try take(prefix + ".beta"))
            }
            var out: [(String, Tensor)] = []
            out.append(("embed.weight", try take("embeddings.word_embeddings.weight")))
            let positions = try take("embeddings.position_embeddings.weight").copy()
            let types = try take("embeddings.token_type_embeddings.weight")
            let d = positions.shape[1]
            guard types.shape.count == 2, types.shape[1] == d else {
                throw CheckpointError.shapeMismatch(file: "pretrained weights", tensor: "embeddings.token_type_embeddings.weight",
                                                    expected: [2, d], found: types.shape)
            }
            for p in 0..<positions.shape[0] { for j in 0..<d { positions.data[p * d + j] += types.data[j] } }
            out.append(("positions.weight", positions))
            let (g0, b0) = try norm("embeddings.LayerNorm")
            out += [("embed_norm.weight", g0), ("embed_norm.bias", b0)]
            for (i, n) in encoderNames(layers).enumerated() {
                let p = "encoder.layer.\(i)."
                let q = try take(p + "attention.self.query.weight"), k = try take(p + "attention.self.key.weight"),
                    v = try take(p + "attention.self.value.weight")
                let qb = try take(p + "attention.self.query.bias"), kb = try take(p + "attention.self.key.bias"),
                    vb = try take(p + "attention.self.value.bias")
                out.append(("\(n).attention.body.self_attn.in_proj.weight", stack([q, k, v])))
                out.append(("\(n).attention.body.self_attn.in_proj.bias", stack([qb, kb, vb])))
                out.append(("\(n).attention.body.self_attn.out_proj.weight", try take(p + "attention.output.dense.weight")))
                out.append(("\(n).attention.body.self_attn.out_proj.bias", try take(p + "attention.output.dense.bias")))
                let (g1, b1) = try norm(p + "attention.output.LayerNorm")
                out += [("\(n).attention_norm.weight", g1), ("\(n).attention_norm.bias", b1)]
                out.append(("\(n).feedforward.body.linear1.weight", try take(p + "intermediate.dense.weight")))
                out.append(("\(n).feedforward.body.linear1.bias", try take(p + "intermediate.dense.bias")))
                out.append(("\(n).feedforward.body.linear2.weight", try take(p + "output.dense.weight")))
                out.append(("\(n).feedforward.body.linear2.bias", try take(p + "output.dense.bias")))
                let (g2, b2) = try norm(p + "output.LayerNorm")
                out += [("\(n).output_norm.weight", g2), ("\(n).output_norm.bias", b2)]
            }
            return (out, file.keys.filter { !used.contains($0) }.sorted())
        }
    }

    /// Concatenates tensors along their first axis.
    static func stack(_ parts: [Tensor]) -> Tensor {
        let rest = Array(parts[0].shape.dropFirst())
        let out = Tensor(shape: [parts.map { $0.shape[0] }.reduce(0, +)] + rest)
        var offset = 0
        for p in parts {
            (out.data + offset).update(from: p.data, count: p.count)
            offset += p.count
        }
        return out
    }
}
