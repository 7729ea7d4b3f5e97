// Residual connection: a body plus an identity (or projection) shortcut.
// x: any shape accepted by body   y: body's output shape (the shortcut must produce the same)

/// `y = body(x) + shortcut(x)`, with the identity when there is no shortcut.
///
/// ```
/// y  = body(x) + (shortcut?(x) ?? x)
/// dx = body′ᵀ·dy + (shortcut′ᵀ·dy ?? dy)
/// ```
/// A composite: `children` are `("body", body)` and, when present, `("shortcut", shortcut)`, so
/// parameter names read `block.body.conv1.weight`, `block.shortcut.weight`. Its context holds one
/// child context per child, in that order. A ResNet block passes a 1×1 convolution as the shortcut
/// when the channel count or stride changes; a pre-LN transformer block uses the identity.
///
/// ### References
/// He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", 2016.
public final class Residual: Layer {
    public let kind = "residual"
    public let body: Sequential
    public let shortcut: Layer?

    public init(body: Sequential, shortcut: Layer? = nil) {
        self.body = body
        self.shortcut = shortcut
    }

    public var children: [(String, Layer)] {
        [("body", body as Layer)] + (shortcut.map { [("shortcut", $0)] } ?? [])
    }

    public func outputShape(for inputShape: [Int]) -> [Int] {
        let out = body.outputShape(for: inputShape)
        let side = shortcut?.outputShape(for: inputShape) ?? inputShape
        precondition(out == side, "residual: body gives \(out) but the shortcut gives \(side) for input \(inputShape)")
        return out
    }

    public func forward(_ x: Tensor, _ c: LayerContext) -> Tensor {
        let bodyContext = c.children[0]
        bodyContext.training = c.training
        bodyContext.bfloat16 = c.bfloat16
        bodyContext.validLengths = c.validLengths
        let main = body.forward(x, bodyContext)
        var side = x
        if let s = shortcut {
            let shortcutContext = c.children[1]
            shortcutContext.training = c.training
            shortcutContext.bfloat16 = c.bfloat16
            shortcutContext.validLengths = c.validLengths
            side = s.forward(x, shortcutContext)
        }
        precondition(main.shape == side.shape,
                     "residual: body gives \(main.shape) but the shortcut gives \(side.shape) for input \(x.shape)")
        let y = c.buffer(0, main.shape)
        let a = main.data, b = side.data, out = y.data
        for i in 0..<y.count { out[i] = a[i] + b[i] }
        return y
    }

    public func backward(_ dy: Tensor, _ c: LayerContext) -> Tensor {
        let bodyContext = c.children[0]
        bodyContext.parameterGradients = c.parameterGradients
        bodyContext.inputGradient = c.inputGradient
        let dMain = body.backward(dy, bodyContext)
        var dSide = dy
        if let s = shortcut {
            let shortcutContext = c.children[1]
            shortcutContext.parameterGradients = c.parameterGradients
            shortcutContext.inputGradient = c.inputGradient
            dSide = s.backward(dy, shortcutContext)
        }
        let dx = c.buffer(1, dMain.shape)
        guard c.inputGradient else { return dx }
        let a = dMain.data, b = dSide.data, out = dx.data
        for i in 0..<dx.count { out[i] = a[i] + b[i] }
        return dx
    }
}
