// Conv2D's convolution backends, and the oneDNN one (plans made by Core/_CKernels/dnnl_conv.c).
// Shape key as Conv2D: x (B, H, W, Ci), W (Co, k, k, Ci), y (B, Ho, Wo, Co).

import Foundation
import _CKernels

extension Conv2D {
    /// How a ``Conv2D`` computes its three products (forward, input gradient, weight gradient).
    ///
    /// | backend | forward and input gradient | weight gradient |
    /// |---|---|---|
    /// | `im2col` | im2col + OpenBLAS sgemm | im2col + sgemm |
    /// | `winograd` (default) | kd-tool's Winograd F(2×2,3×3) for 3×3 s1 p1 layers with suitable channels (``Winograd/supports(inputs:outputs:)``), else im2col | im2col |
    /// | `dnnl` | oneDNN: Winograd F(4×4,3×3) for 3×3 s1 layers with at least 16 input and output channels, else oneDNN's direct convolution | the same |
    /// | `dnnlDirect` | oneDNN's direct convolution | the same |
    ///
    /// When oneDNN has nothing but its slow reference implementation for a layer (or reports an error), the
    /// `dnnl` backends fall back to the `winograd` row for that product. See Docs/Benchmarks.md, "oneDNN
    /// convolutions", for the measured speeds and the rounding differences.
    public enum Backend: String, Sendable, CaseIterable {
        case im2col, winograd, dnnl, dnnlDirect

        var usesDNNL: Bool { self == .dnnl || self == .dnnlDirect }
    }

    /// oneDNN's algorithm for this layer under the current backend; bfloat16 (direct kernels) when the layer
    /// or the execution asks for it (``dnnlBFloat16``, `LayerContext.bfloat16`).
    func dnnlAlgorithm(bfloat16: Bool = false) -> Int32 {
        if dnnlBFloat16 || bfloat16 { return Int32(KD_DNNL_DIRECT) | Int32(KD_DNNL_BF16) }
        return backend == .dnnl && kernel == 3 && stride == 1 && min(inputChannels, outputChannels) >= 16
            ? Int32(KD_DNNL_WINOGRAD) : Int32(KD_DNNL_DIRECT)
    }

    /// The plan for `pass` on input shape `xs`, made on first use; nil when oneDNN has no fast implementation.
    /// Plans run on one thread: a large call is split by images over kd-tool's own threads, as the other
    /// backends do (with two OpenMP threads per call, libgomp's spin-waiting fought OpenBLAS's threads and
    /// training ran at half the speed; see Docs/Benchmarks.md).
    func dnnlPlan(_ pass: Int32, inputShape xs: [Int], bfloat16: Bool = false) -> DNNLPlans.Plan? {
        let ys = outputShape(for: xs)
        let key = DNNLConvKey(pass: pass, algorithm: dnnlAlgorithm(bfloat16: bfloat16), batch: xs[0], height: xs[1], width: xs[2])
        return dnnlPlans.plan(key) {
            kd_dnnl_conv_create(pass, key.algorithm, Int32(xs[0]), Int32(xs[1]), Int32(xs[2]), Int32(inputChannels),
                                Int32(outputChannels), Int32(kernel), Int32(stride), Int32(padding), Int32(ys[1]),
                                Int32(ys[2]), bias == nil ? 0 : 1, 1)
        }
    }

    /// oneDNN's name of the implementation a pass (0 forward, 1 input gradient, 2 weight gradient) of this
    /// layer runs on input shape `xs` (e.g. "jit_wino_4x3:avx512_core"), or nil when that pass falls back to
    /// kd-tool's own code.
    public func dnnlImplementation(pass: Int, inputShape xs: [Int]) -> String? {
        guard backend.usesDNNL, (0...2).contains(pass), xs.count == 4, xs[3] == inputChannels else { return nil }
        return dnnlPlan(Int32(pass), inputShape: xs).map { plan in
            defer { plan.release() }
            return String(cString: kd_dnnl_conv_implementation(plan.pointer))
        }
    }

    /// Runs `pass` over the images of the batch, split over `workers` threads; `run(plan, images, workspace)`
    /// runs one block. False when oneDNN has no plan for a block's shape or reports an error.
    private func dnnlBlocks(_ pass: Int32, _ xs: [Int], workers: Int, _ c: LayerContext,
                            _ run: (OpaquePointer, Range<Int>, Int, UnsafeMutablePointer<Float>) -> Bool) -> Bool {
        let batch = xs[0]
        let blocks = (0..<workers).map { (batch * $0 / workers)..<(batch * ($0 + 1) / workers) }
        var plans: [DNNLPlans.Plan] = []
        defer { for p in plans { p.release() } }
        for b in blocks {
            guard let plan = dnnlPlan(pass, inputShape: [b.count] + xs.dropFirst(), bfloat16: c.bfloat16) else { return false }
            plans.append(plan)
        }
        let spaces = plans.enumerated().map { c.buffer(210 + $0.offset, [kd_dnnl_conv_workspace($0.element.pointer)]).data }
        return Parallel.imageBlocksSucceed(batch: batch, workers: workers) { w, images in
            run(plans[w].pointer, images, w, spaces[w])
        }
    }

    /// `y = conv(x) + bias` through oneDNN; false when this layer's forward pass falls back.
    func dnnlForward(_ x: Tensor, _ y: Tensor, _ c: LayerContext) -> Bool {
        let (xImage, yImage) = (x.count / x.shape[0], y.count / y.shape[0])
        let workers = workerCount(batch: x.shape[0], rows: y.count / outputChannels)
        return dnnlBlocks(Int32(KD_DNNL_FORWARD), x.shape, workers: workers, c) { plan, images, _, ws in
            kd_dnnl_conv_run(plan, x.data + images.lowerBound * xImage, weight.value.data, bias?.value.data,
                             y.data + images.lowerBound * yImage, nil, ws) != 0
        }
    }

    /// The gradients through oneDNN: dx (overwritten) when `input`, and when `weights` the weight gradient
    /// (and the bias gradient when `biasToo`) added into the parameters' gradients. Returns which were done.
    func dnnlBackward(_ x: Tensor, _ dy: Tensor, _ dx: Tensor, _ c: LayerContext, input: Bool, weights: Bool,
                      biasToo: Bool) -> (input: Bool, weights: Bool) {
        let (xImage, yImage) = (x.count / x.shape[0], dy.count / dy.shape[0])
        let workers = workerCount(batch: x.shape[0], rows: dy.count / outputChannels)
        var done = (input: false, weights: false)
        if input {
            done.input = dnnlBlocks(Int32(KD_DNNL_BACKWARD_DATA), x.shape, workers: workers, c) { plan, images, _, ws in
                kd_dnnl_conv_run(plan, dy.data + images.lowerBound * yImage, weight.value.data, nil,
                                 dx.data + images.lowerBound * xImage, nil, ws) != 0
            }
        }
        guard weights else { return done }
        // Worker 0 adds into the gradients themselves, the others into zeroed partial sums added after;
        // on failure every sum is put back as it was.
        let gw = c.buffer(201, weight.grad.shape), gb = c.buffer(202, [bias?.grad.count ?? 0])
        gw.assign(weight.grad)
        if let b = bias { gb.assign(b.grad) }
        let partW = (0..<workers).map { $0 == 0 ? weight.grad : c.buffer(220 + $0, weight.grad.shape) }
        let partB = (0..<workers).map { $0 == 0 ? (bias?.grad ?? gb) : c.buffer(230 + $0, [gb.count]) }
        for w in 1..<max(workers, 1) { partW[w].zero(); partB[w].zero() }
        done.weights = dnnlBlocks(Int32(KD_DNNL_BACKWARD_WEIGHTS), x.shape, workers: workers, c) { plan, images, w, ws in
            kd_dnnl_conv_run(plan, x.data + images.lowerBound * xImage, dy.data + images.lowerBound * yImage, nil,
                             partW[w].data, biasToo && bias != nil ? partB[w].data : nil, ws) != 0
        }
        if done.weights {
            for w in 1..<max(workers, 1) {
                for i in 0..<gw.count { weight.grad.data[i] += partW[w].data[i] }
                if biasToo, let b = bias { for i in 0..<b.grad.count { b.grad.data[i] += partB[w].data[i] } }
            }
        } else {
            weight.grad.assign(gw)
            bias?.grad.assign(gb)
        }
        return done
    }
}

/// The oneDNN plans of one ``Conv2D`` (one per pass, algorithm and input shape of one thread's block), or
/// the oneDNN chains of one ``Sequential`` (one per run of layers and input shape), made on first use and
/// destroyed with their owner. Threads share plans (oneDNN primitives may run concurrently; each call
/// brings its own workspace from its ``LayerContext``). At most ``capacity`` plans are kept; beyond that a
/// plan is made for one call and destroyed after it.
final class DNNLCache<Key: Hashable>: @unchecked Sendable {
    /// A plan for one call; `release()` destroys it when it was not kept.
    struct Plan {
        let pointer: OpaquePointer
        let kept: Bool
        let destroy: @Sendable (OpaquePointer) -> Void
        func release() { if !kept { destroy(pointer) } }
    }

    static var capacity: Int { 24 }
    private let lock = NSLock()
    private let destroy: @Sendable (OpaquePointer) -> Void
    /// nil values: oneDNN has no fast implementation for that key (not asked again).
    private var plans: [Key: OpaquePointer?] = [:]

    init(destroy: @escaping @Sendable (OpaquePointer) -> Void) { self.destroy = destroy }

    func plan(_ key: Key, make: () -> OpaquePointer?) -> Plan? {
        lock.lock()
        defer { lock.unlock() }
        if let known = plans[key] { return known.map { Plan(pointer: $0, kept: true, destroy: destroy) } }
        let made = make()
        if plans.count < Self.capacity {
            plans[key] = made
            return made.map { Plan(pointer: $0, kept: true, destroy: destroy) }
        }
        return made.map { Plan(pointer: $0, kept: false, destroy: destroy) }
    }

    deinit {
        for case let p? in plans.values { destroy(p) }
    }
}

/// The key of a ``Conv2D``'s plans.
struct DNNLConvKey: Hashable {
    var pass: Int32, algorithm: Int32, batch: Int, height: Int, width: Int
}

typealias DNNLPlans = DNNLCache<DNNLConvKey>

extension DNNLCache where Key == DNNLConvKey {
    static func forConvolutions() -> DNNLPlans { DNNLPlans { kd_dnnl_conv_destroy($0) } }
}
