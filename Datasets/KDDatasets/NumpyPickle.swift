// Numpy arrays stored as Python pickles (Animal-MNIST ships gzipped pickles of uint8 images and
// int64 labels), read without Python and without executing anything.
//
// How to use:
//
//     let wheel = try ArchiveReader(path: "animal_mnist-0.4-py3-none-any.whl")
//     let images = try NumpyPickle.parse(bytes: wheel.read("animal_mnist/data/Animal_MNIST/animal_data_version_3.gz"),
//                                        name: "animal_data_version_3.gz")
//     // images.shape == [10000, 28, 28], images.descr == "|u1"; images.data is the raw block
//     let labels = try NumpyPickle.parse(bytes: ..., name: ...).integers()   // "<i8" → [Int]
//
// The pickle opcodes (protocols 2 to 5) run on a small stack machine that only builds values:
// globals are recorded as names and never resolved, calls are recorded as (callable, arguments)
// and never made. The result is then matched against the two ways numpy pickles an array:
//
//     numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD (version, shape, dtype, fortran, data)
//     numpy.core.numeric._frombuffer(data, dtype, shape, order)           (protocol 5)
//
// The byte block comes from whichever bytes opcode holds it (SHORT_BINBYTES, BINBYTES, BINBYTES8,
// BYTEARRAY8, SHORT_BINSTRING, BINSTRING, or protocol 2's `_codecs.encode(text, 'latin1')`); the
// shape from the pickled tuple; the dtype from its pickled descr (type 'u1' + byte order '|').
// Byte count = product(shape) · item size is checked. Nothing is found by fixed offsets.
import Foundation

/// A numpy array read from a pickle: C-order raw bytes with their shape and dtype descr.
public struct NumpyArray: Equatable, Sendable {
    public let shape: [Int]
    /// The numpy descr: byte order ('<' little, '>' big, '|' not applicable) + kind + item size,
    /// e.g. "|u1", "<i8", "<f4".
    public let descr: String
    /// product(shape) · itemSize bytes, C (row-major) order.
    public let data: [UInt8]

    public var count: Int { shape.reduce(1, *) }
    public var kind: Character { descr.dropFirst().first ?? "?" }
    public var itemSize: Int { Int(descr.dropFirst(2)) ?? 0 }

    /// The values as `Int` for integer and boolean dtypes of any size and byte order.
    public func integers(name: String = "array") throws -> [Int] {
        guard "iub".contains(kind) else { throw DataFileError.unsupported(file: name, reason: "dtype \(descr) is not an integer type") }
        let size = itemSize, big = descr.hasPrefix(">"), signed = kind == "i"
        var out = [Int](repeating: 0, count: count)
        data.withUnsafeBufferPointer { src in
            for i in 0..<count {
                var value: UInt64 = 0
                for b in 0..<size { value |= UInt64(src[i * size + (big ? size - 1 - b : b)]) << (8 * UInt64(b)) }
                if signed && size < 8 && value & (1 << (8 * UInt64(size) - 1)) != 0 { value |= ~0 << (8 * UInt64(size)) }
                out[i] = Int(truncatingIfNeeded: value)
            }
        }
        return out
    }

    /// The values as Float for float and integer dtypes.
    public func floats(name: String = "array") throws -> [Float] {
        if kind != "f" { return try integers(name: name).map(Float.init) }
        guard itemSize == 4 || itemSize == 8 else { throw DataFileError.unsupported(file: name, reason: "dtype \(descr)") }
        let big = descr.hasPrefix(">")
        return (0..<count).map { i in
            var bits: UInt64 = 0
            for b in 0..<itemSize { bits |= UInt64(data[i * itemSize + (big ? itemSize - 1 - b : b)]) << (8 * UInt64(b)) }
            return itemSize == 4 ? Float(bitPattern: UInt32(bits)) : Float(Double(bitPattern: bits))
        }
    }
}

public enum NumpyPickle {
    /// Largest decompressed pickle: Animal-MNIST's images are 7.8 MB.
    public static let defaultLimit = 512 << 20

    /// Reads a pickle file (gzip-compressed or plain, by content).
    public static func read(path: String, limit: Int = defaultLimit) throws -> NumpyArray {
        try parse(bytes: LocalFile.read(path, limit: limit), name: path, limit: limit)
    }

    /// Parses pickle bytes (gzip-compressed or plain, by content) holding one numpy array.
    public static func parse(bytes raw: [UInt8], name: String, limit: Int = defaultLimit) throws -> NumpyArray {
        let bytes = try Gzip.decompressIfCompressed(bytes: raw, name: name, limit: limit)
        var machine = PickleMachine(bytes: bytes, name: name)
        defer { machine.releaseContainers() }
        let root = try machine.run()
        return try machine.array(from: root)
    }
}

// MARK: - Recognising numpy arrays

extension PickleMachine {
    func array(from root: PickleValue) throws -> NumpyArray {
        guard case .object(.global(let module, let function), let arguments, let state) = root,
              module.hasPrefix("numpy") else {
            throw DataFileError.badHeader(file: name, expected: "a pickled numpy array", found: "a pickled \(root.kindName)")
        }
        let shapeValue: PickleValue, dtypeValue: PickleValue, dataValue: PickleValue
        switch function {
        case "_reconstruct":
            // state = (version, shape, dtype, is_fortran, data) or, before numpy 1.0, without version.
            guard case .tuple(var s)? = state, s.count == 5 || s.count == 4 else {
                throw DataFileError.badHeader(file: name, expected: "ndarray state (version, shape, dtype, fortran, data)",
                                              found: state?.kindName ?? "no state")
            }
            if s.count == 5 { s.removeFirst() }
            if case .bool(true) = s[2] {
                throw DataFileError.unsupported(file: name, reason: "the array is stored in Fortran order; save it C-contiguous")
            }
            (shapeValue, dtypeValue, dataValue) = (s[0], s[1], s[3])
        case "_frombuffer":
            guard case .tuple(let a) = arguments, a.count == 4 else {
                throw DataFileError.badHeader(file: name, expected: "_frombuffer(buffer, dtype, shape, order)", found: arguments.kindName)
            }
            if case .string("F") = a[3] {
                throw DataFileError.unsupported(file: name, reason: "the array is stored in Fortran order; save it C-contiguous")
            }
            (shapeValue, dtypeValue, dataValue) = (a[2], a[1], a[0])
        default:
            throw DataFileError.badHeader(file: name, expected: "a pickled numpy array", found: "\(module).\(function)(…)")
        }

        guard case .tuple(let dims) = shapeValue else {
            throw DataFileError.badHeader(file: name, expected: "a shape tuple", found: shapeValue.kindName)
        }
        var shape: [Int] = []
        var count = 1
        for d in dims {
            guard case .int(let n) = d, n >= 0 else { throw DataFileError.badHeader(file: name, expected: "non-negative dimensions", found: d.kindName) }
            shape.append(n)
            let (c, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw DataFileError.sizeMismatch(file: name, what: "shape \(shape)", expected: Int.max, found: bytes.count) }
            count = c
        }
        let descr = try self.descr(dtypeValue)
        let itemSize = Int(descr.dropFirst(2)) ?? 0
        let data: [UInt8]
        switch dataValue {
        case .bytes(let r): data = Array(bytes[r])
        case .ownedBytes(let b): data = b
        default: throw DataFileError.badHeader(file: name, expected: "the array's raw bytes", found: dataValue.kindName)
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow, expected == data.count else {
            throw DataFileError.sizeMismatch(file: name, what: "array of shape \(shape) and dtype \(descr)",
                                             expected: overflow ? Int.max : expected, found: data.count)
        }
        return NumpyArray(shape: shape, descr: descr, data: data)
    }

    /// "|u1", "<i8", … from a pickled `numpy.dtype(code, align, copy)` with state
    /// `(version, byteorder, subarray, names, fields, elsize, alignment, flags)`.
    private func descr(_ value: PickleValue) throws -> String {
        guard case .object(.global(_, "dtype"), .tuple(let a), let state) = value, let first = a.first else {
            throw DataFileError.badHeader(file: name, expected: "a pickled numpy dtype", found: value.kindName)
        }
        var code: String
        switch first {
        case .string(let s): code = s
        case .bytes(let r): code = String(decoding: bytes[r], as: UTF8.self)
        default: throw DataFileError.badHeader(file: name, expected: "a dtype code such as 'u1'", found: first.kindName)
        }
        var order = "="
        if case .tuple(let s)? = state, s.count >= 2 {
            switch s[1] {
            case .string(let o): order = o
            case .bytes(let r): order = String(decoding: bytes[r], as: UTF8.self)
            default: break
            }
            if s.count >= 4, !s[3].isNone {
                throw DataFileError.unsupported(file: name, reason: "structured dtypes (with named fields) are not read")
            }
        }
        if let c = code.first, "<>|=".contains(c) { order = String(c); code.removeFirst() }
        guard let kind = code.first, "biuf".contains(kind), let size = Int(code.dropFirst()), [1, 2, 4, 8].contains(size) else {
            throw DataFileError.unsupported(file: name, reason: "dtype '\(code)' (only bool, integer and float arrays are read)")
        }
        if size == 1 { order = "|" } else if order == "=" { order = "<" }   // numpy's native order on every supported machine
        guard order == "<" || order == ">" || order == "|" else {
            throw DataFileError.badHeader(file: name, expected: "byte order '<', '>', '|' or '='", found: "'\(order)'")
        }
        return order + code
    }
}

/// A value built by the pickle machine. Bytes refer to ranges of the pickle itself (no copies).
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes(Range<Int>)
    case ownedBytes([UInt8])
    case tuple([PickleValue])
    /// A list, shared like Python's (the memo and the stack hold the same one).
    case list(PickleBox)
    /// A dict as (key, value) pairs in insertion order, shared like a list.
    case dict(PickleBox)
    case global(module: String, name: String)
    /// `callable(*arguments)`, then `__setstate__(state)` when BUILD gave one. Never executed.
    case object(callable: PickleValue, arguments: PickleValue, state: PickleValue?)
    case mark

    var isNone: Bool { if case .none = self { return true } else { return false } }

    var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes, .ownedBytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let m, let n): return "\(m).\(n)"
        case .object(let c, _, _): return "\(c.kindName)(…)"
        case .mark: return "mark"
        }
    }
}
