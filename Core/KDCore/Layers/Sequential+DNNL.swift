// Runs of convolution / ReLU / max-pooling layers executed as one oneDNN chain (Core/_CKernels/dnnl_chain.c)
// when only the input gradient will be wanted: the entropy engine's σ step and gradient explanations.
//
// Layer by layer, each oneDNN convolution reorders its input from NHWC into oneDNN's blocked layout and its
// output back (forward and backward), and ReLU and max-pooling are separate passes in kd-tool's code. In a
// chain the activations stay in oneDNN's layouts from the run's input to its output, a ReLU after a
// convolution is the convolution's post-op, and pooling and the ReLU's backward are oneDNN's. The same
// primitives compute the same numbers, so maps do not change (tests compare the two paths).

import Foundation
import _CKernels

/// What a fused forward recorded for the backward: the run's layers, its input and how the batch was
/// split over threads. Kept in the contexts of the run's layers.
final class FusedRun {
    let layers: Range<Int>
    /// The run's input (unchanged until the backward, as every layer's input).
    let input: Tensor
    let workers: Int

    init(layers: Range<Int>, input: Tensor, workers: Int) {
        self.layers = layers
        self.input = input
        self.workers = workers
    }
}

extension DNNLCache where Key == DNNLChainKey {
    static func forChains() -> DNNLCache<DNNLChainKey> { DNNLCache { kd_dnnl_chain_destroy($0) } }
}

/// The key of a ``Sequential``'s chains: a run of layers and one thread's block of the batch.
struct DNNLChainKey: Hashable {
    var start: Int, end: Int, batch: Int, height: Int, width: Int, channels: Int
}

extension Sequential {
    /// Whether `layer` can be part of a chain: a ``Conv2D`` on a oneDNN backend in float32, a ``ReLU``, or a
    /// ``MaxPool2D``. (bfloat16 convolutions run layer by layer.)
    private func chainable(_ layer: Layer) -> Bool {
        if let conv = layer as? Conv2D { return conv.backend.usesDNNL && !conv.dnnlBFloat16 }
        return layer is ReLU || layer is MaxPool2D
    }

    /// The longest run of chainable layers starting at `i` inside `range`, when it has a convolution and at
    /// least two layers.
    func fusableRun(at i: Int, within range: Range<Int>) -> Range<Int>? {
        var end = i
        while end < range.upperBound, chainable(layers[end].1) { end += 1 }
        guard end - i >= 2, layers[i..<end].contains(where: { $0.1 is Conv2D }) else { return nil }
        return i..<end
    }

    /// The chain's description of its layers for oneDNN.
    private func chainLayers(_ run: Range<Int>) -> [kd_chain_layer] {
        run.map { i in
            if let conv = layers[i].1 as? Conv2D {
                return kd_chain_layer(kind: Int32(KD_CHAIN_CONV), channels: Int32(conv.outputChannels),
                                      kernel: Int32(conv.kernel), stride: Int32(conv.stride), padding: Int32(conv.padding),
                                      has_bias: conv.bias == nil ? 0 : 1, algorithm: conv.dnnlAlgorithm())
            }
            if let pool = layers[i].1 as? MaxPool2D {
                return kd_chain_layer(kind: Int32(KD_CHAIN_MAXPOOL), channels: 0, kernel: Int32(pool.kernel),
                                      stride: Int32(pool.stride), padding: 0, has_bias: 0, algorithm: 0)
            }
            return kd_chain_layer(kind: Int32(KD_CHAIN_RELU), channels: 0, kernel: 0, stride: 0, padding: 0, has_bias: 0,
                                  algorithm: 0)
        }
    }

    /// The chain for `run` on a block of `batch` images of shape `xs` (without batch), made on first use.
    private func chain(_ run: Range<Int>, batch: Int, _ xs: ArraySlice<Int>) -> DNNLCache<DNNLChainKey>.Plan? {
        let s = Array(xs)
        let key = DNNLChainKey(start: run.lowerBound, end: run.upperBound, batch: batch, height: s[0], width: s[1], channels: s[2])
        return dnnlChains.plan(key) {
            let description = chainLayers(run)
            return kd_dnnl_chain_create(description, Int32(description.count), Int32(batch), Int32(s[0]), Int32(s[1]), Int32(s[2]))
        }
    }

    /// The chains of every thread's block, or nil (and none kept) when a block has no chain.
    private func blockChains(_ run: Range<Int>, _ xs: [Int], workers: Int) -> [DNNLCache<DNNLChainKey>.Plan]? {
        var plans: [DNNLCache<DNNLChainKey>.Plan] = []
        for w in 0..<workers {
            let images = xs[0] * (w + 1) / workers - xs[0] * w / workers
            guard let p = chain(run, batch: images, xs.dropFirst()) else { plans.forEach { $0.release() }; return nil }
            plans.append(p)
        }
        return plans
    }

    /// Forward through `run` as one chain; nil when oneDNN cannot (the caller runs the layers one by one).
    /// Records the run in the layers' contexts for ``backwardChain``.
    func forwardChain(_ x: Tensor, _ c: LayerContext, run: Range<Int>) -> Tensor? {
        guard x.shape.count == 4, x.shape[0] > 0, !x.shape.contains(0),
              let conv = layers[run].first(where: { $0.1 is Conv2D })?.1 as? Conv2D else { return nil }
        let ys = layers[run].reduce(x.shape) { $1.1.outputShape(for: $0) }
        let batch = x.shape[0]
        let workers = conv.workerCount(batch: batch, rows: batch * x.shape[1] * x.shape[2])
        guard let plans = blockChains(run, x.shape, workers: workers) else { return nil }
        defer { plans.forEach { $0.release() } }
        let first = c.children[run.lowerBound]
        let y = first.buffer(299, ys)
        let spaces = plans.enumerated().map { first.buffer(300 + $0.offset, [kd_dnnl_chain_workspace($0.element.pointer)]).data }
        let weights: [UnsafePointer<Float>?] = run.map { (layers[$0].1 as? Conv2D).map { UnsafePointer($0.weight.value.data) } }
        let biases: [UnsafePointer<Float>?] = run.map { (layers[$0].1 as? Conv2D)?.bias.map { UnsafePointer($0.value.data) } }
        let (xImage, yImage) = (x.count / batch, y.count / batch)
        let ok = Parallel.imageBlocksSucceed(batch: batch, workers: workers) { w, images in
            kd_dnnl_chain_forward(plans[w].pointer, x.data + images.lowerBound * xImage, weights, biases,
                                  y.data + images.lowerBound * yImage, spaces[w]) != 0
        }
        guard ok else { return nil }
        let record = FusedRun(layers: run, input: x, workers: workers)
        for i in run { c.children[i].fusedRun = record }
        return y
    }

    /// The input gradient through the fused run that ends at or above layer `top`, down to layer `bottom`
    /// (both inside the run); `dx` nil when the gradient at `bottom`'s input is not wanted. The forward's
    /// chains and workspaces are reused. False when oneDNN reports an error.
    func backwardChain(_ dy: Tensor, _ c: LayerContext, record: FusedRun, top: Int, bottom: Int, wantInput: Bool) -> Tensor? {
        let run = record.layers
        let inShape = layers[run.lowerBound..<bottom].reduce(record.input.shape) { $1.1.outputShape(for: $0) }
        let first = c.children[run.lowerBound]
        let dx = c.children[bottom].buffer(298, inShape)
        guard let plans = blockChains(run, record.input.shape, workers: record.workers) else { return nil }
        defer { plans.forEach { $0.release() } }
        let batch = record.input.shape[0]
        let spaces = plans.enumerated().map { first.buffer(300 + $0.offset, [kd_dnnl_chain_workspace($0.element.pointer)]).data }
        let (dxImage, dyImage) = (dx.count / batch, dy.count / batch)
        let (down, upto) = (Int32(bottom - run.lowerBound), Int32(top + 1 - run.lowerBound))
        let ok = Parallel.imageBlocksSucceed(batch: batch, workers: record.workers) { w, images in
            kd_dnnl_chain_backward(plans[w].pointer, down, upto, dy.data + images.lowerBound * dyImage,
                                   wantInput ? dx.data + images.lowerBound * dxImage : nil, spaces[w]) != 0
        }
        return ok ? dx : nil
    }

    /// oneDNN's implementations of the chain for layers `run` on input shape `xs` (batch first): per layer,
    /// (forward, input gradient); "" for a ReLU done by its convolution. nil when the run has no chain.
    public func dnnlChainImplementations(_ run: Range<Int>, inputShape xs: [Int]) -> [(String, String)]? {
        guard xs.count == 4, let p = chain(run, batch: xs[0], xs.dropFirst()) else { return nil }
        defer { p.release() }
        return (0..<run.count).map { i in
            (String(cString: kd_dnnl_chain_implementation(p.pointer, Int32(i), 0)),
             String(cString: kd_dnnl_chain_implementation(p.pointer, Int32(i), 1)))
        }
    }
}
