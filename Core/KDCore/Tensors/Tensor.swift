// Tensors: Float32 values on one contiguous, owned buffer, row-major.
//
import Foundation

// Shape letters used across Core: B batch, C channels, H height, W width, N points, T tokens,
// D model width, K noise samples. Images are laid out (B, H, W, C) ("NHWC") so that a
// convolution lowers to one GEMM per layer for the whole batch (see Conv2D.swift).

/// A row-major Float32 tensor that owns one contiguous buffer.
///
/// `Tensor` is a class: layers hand out tensors that live in reusable workspace slots
/// (``LayerContext/buffer(_:_:)``), so a forward/backward step allocates nothing once warm.
/// `resize(_:)` only reallocates when the capacity is too small.
public final class Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var capacity: Int
    public private(set) var data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        let n = shape.reduce(1, *)
        self.shape = shape
        self.count = n
        self.capacity = max(n, 1)
        self.data = .allocate(capacity: max(n, 1))
        self.data.initialize(repeating: 0, count: max(n, 1))
    }

    public convenience init(shape: [Int], repeating value: Float) {
        self.init(shape: shape)
        fill(value)
    }

    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "expected \(count) values for shape \(shape), got \(values.count)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public convenience init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    deinit { data.deallocate() }

    public var rank: Int { shape.count }
    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: data, count: count) }
    public var array: [Float] { Array(buffer) }

    public subscript(i: Int) -> Float {
        get { precondition(i >= 0 && i < count); return data[i] }
        set { precondition(i >= 0 && i < count); data[i] = newValue }
    }

    /// Changes the shape without touching the values (the element count must not change).
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        shape = newShape
    }

    /// Changes the shape, reallocating only when the capacity is too small.
    /// Values are unspecified afterwards unless the count is unchanged.
    public func resize(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        if n > capacity {
            data.deallocate()
            data = .allocate(capacity: n)
            data.initialize(repeating: 0, count: n)
            capacity = n
        }
        shape = newShape
        count = n
    }

    /// Sets every element to `value`; a long tensor (a large layer's gradient zeroed before each training
    /// step) is split over the cores as ``Parallel`` decides.
    public func fill(_ value: Float) {
        let p = data
        Parallel.chunks(count: count, minimum: Parallel.minimumElements * 4) { r in
            (p + r.lowerBound).update(repeating: value, count: r.count)
        }
    }
    public func zero() { fill(0) }

    public func copy() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Copies `other`'s shape and values into this tensor.
    public func assign(_ other: Tensor) {
        resize(other.shape)
        data.update(from: other.data, count: count)
    }

    /// Number of elements per leading index (the product of all but the first dimension).
    public var rowSize: Int { shape.count <= 1 ? 1 : shape.dropFirst().reduce(1, *) }
    /// The size of the last dimension (1 for a scalar).
    public var lastDim: Int { shape.last ?? 1 }
    /// The product of all dimensions but the last.
    public var leadingCount: Int { shape.isEmpty ? 1 : shape.dropLast().reduce(1, *) }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = buffer.prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}
