import Foundation

// The safetensors file format (https://github.com/huggingface/safetensors), read and written exactly:
//
//   [8 bytes]  N, the header length, little-endian UInt64
//   [N bytes]  UTF-8 JSON: {"__metadata__": {str: str}, "<name>": {"dtype": "F32", "shape": [...],
//              "data_offsets": [begin, end]}, ...}, padded with spaces so 8 + N is a multiple of 8
//   [rest]     the tensors' bytes, little-endian, row-major; offsets are relative to the end of the header
//
// Written files hold F32 tensors sorted by name with contiguous offsets, as the reference writer
// produces them. Read files may come from other tools: F16, BF16 and F64 are converted to Float32.

/// Reading and writing safetensors files.
public enum Safetensors {
    /// The element types kd-tool can read (writing is always F32).
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
        public var size: Int {
            switch self {
            case .f32: return 4
            case .f16, .bf16: return 2
            case .f64: return 8
            }
        }
    }

    /// A file's tensors (converted to Float32, in the order of their data), their stored dtypes, and
    /// its metadata.
    public struct Contents {
        public var tensors: [(name: String, tensor: Tensor)]
        public var dtypes: [String: DType]
        public var metadata: [String: String]
        /// Integer tensors (e.g. BERT's `position_ids`) left unread, when reading with `skippingIntegerTensors`.
        public var skipped: [String] = []

        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    }

    /// The reference implementation's limit on the header size (100 MB); larger is treated as garbage.
    public static let maxHeaderBytes = 100_000_000

    // MARK: - Writing

    /// Encodes F32 tensors and string metadata as safetensors bytes, tensors sorted by name.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) -> [UInt8] {
        let sorted = tensors.sorted { $0.0 < $1.0 }
        for i in sorted.indices.dropFirst() {
            precondition(sorted[i].0 != sorted[i - 1].0, "duplicate tensor name '\(sorted[i].0)'")
        }
        precondition(!sorted.contains { $0.0 == "__metadata__" }, "'__metadata__' cannot name a tensor")
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { quoted($0) + ":" + quoted(metadata[$0]!) }
            entries.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, t) in sorted {
            let bytes = t.count * 4
            let shape = t.shape.map(String.init).joined(separator: ",")
            entries.append(quoted(name) + ":{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        out += header
        for (_, t) in sorted {
            let start = out.count
            out += repeatElement(0, count: t.count * 4)
            out.withUnsafeMutableBytes { raw in
                let dst = raw.baseAddress! + start
                #if _endian(little)
                dst.copyMemory(from: t.data, byteCount: t.count * 4)
                #else
                for i in 0..<t.count { dst.storeBytes(of: t.data[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                #endif
            }
        }
        return out
    }

    /// Writes a safetensors file atomically: the bytes go to a temporary file in the same folder,
    /// which is flushed to disk and then renamed over `url`, so a reader never sees a partial file.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        try writeAtomically(encode(tensors, metadata: metadata), to: url)
    }

    static func writeAtomically(_ bytes: [UInt8], to url: URL) throws {
        let file = url.path
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp").path
        func failure(_ what: String) -> CheckpointError {
            .io(file: file, message: "\(what): \(String(cString: strerror(errno)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw failure("cannot create the temporary file \(temporary)") }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let error = ok ? nil : failure("cannot write \(bytes.count) bytes to \(temporary)")
        close(fd)
        if let error { unlink(temporary); throw error }
        guard rename(temporary, file) == 0 else {
            let e = failure("cannot rename \(temporary) to it")
            unlink(temporary)
            throw e
        }
    }

    // MARK: - Reading

    /// Reads and validates a safetensors file (see ``decode(_:file:)``).
    /// With `skippingIntegerTensors`, integer and boolean tensors (I64 … U8, BOOL) are checked like the
    /// others but not converted, and listed in `Contents.skipped` (pretrained PyTorch files carry some);
    /// otherwise they are an unsupported dtype.
    public static func read(_ url: URL, skippingIntegerTensors: Bool = false) throws -> Contents {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw CheckpointError.io(file: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        return try data.withUnsafeBytes { try decode($0, file: url.path, skippingIntegerTensors: skippingIntegerTensors) }
    }

    /// Decodes safetensors bytes, validating everything before converting anything: the header length
    /// against the file size, the JSON, every entry's fields and dtype, byte counts against shapes,
    /// unique names, and offsets that tile the data section exactly (as the reference reader requires).
    /// `file` names the source in errors.
    public static func decode(_ bytes: UnsafeRawBufferPointer, file: String, skippingIntegerTensors: Bool = false) throws -> Contents {
        let size = bytes.count
        guard size >= 8 else {
            throw CheckpointError.truncated(file: file, what: "the 8-byte header length", needed: 8, size: size)
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(maxHeaderBytes) else {
            throw CheckpointError.malformedHeader(file: file, reason: "the first 8 bytes declare a \(declared)-byte "
                + "JSON header, more than the format allows (\(maxHeaderBytes))")
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= size else {
            throw CheckpointError.truncated(file: file, what: "the \(headerLength)-byte JSON header",
                                            needed: 8 + headerLength, size: size)
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw CheckpointError.malformedHeader(file: file, reason: "the header does not start with '{'")
        }
        let json: JSON
        do { json = try parseJSON(headerBytes) } catch let e as JSONError {
            if let name = e.duplicateTopLevelKey { throw CheckpointError.duplicateTensor(file: file, tensor: name) }
            throw CheckpointError.malformedHeader(file: file, reason: "the JSON header is not well-formed at byte \(e.offset): \(e.message)")
        }
        guard case let .object(members) = json else {
            throw CheckpointError.malformedHeader(file: file, reason: "the header is \(json.kindName), not an object")
        }

        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType?, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, file: file)
                continue
            }
            entries.append(try parseEntry(name, value, file: file, skipIntegers: skippingIntegerTensors))
        }

        // The byte ranges must tile the data section: sorted by offset, each starts where the previous ended.
        let dataStart = 8 + headerLength, dataSize = size - dataStart
        let order = entries.indices.sorted { (entries[$0].begin, entries[$0].end) < (entries[$1].begin, entries[$1].end) }
        var cursor = 0, previousName: String? = nil
        var previous: String { previousName.map { "tensor '\($0)'" } ?? "the start of the data" }
        for i in order {
            let e = entries[i]
            if e.begin < cursor {
                throw CheckpointError.offsets(file: file, tensor: e.name, reason: "bytes \(e.begin)..<\(e.end) overlap \(previous), which ends at \(cursor)")
            }
            if e.begin > cursor {
                throw CheckpointError.offsets(file: file, tensor: e.name, reason: "bytes \(e.begin)..<\(e.end) leave a gap after \(previous), which ends at \(cursor)")
            }
            if e.end > dataSize {
                throw CheckpointError.truncated(file: file, what: "tensor '\(e.name)' (data bytes \(e.begin)..<\(e.end))",
                                                needed: dataStart + e.end, size: size)
            }
            cursor = e.end
            previousName = e.name
        }
        if cursor != dataSize {
            throw CheckpointError.offsets(file: file, tensor: previousName ?? "(none)", reason: "the file has \(dataSize - cursor) bytes after the last tensor's data")
        }

        var tensors: [(name: String, tensor: Tensor)] = []
        var dtypes: [String: DType] = [:]
        var skipped: [String] = []
        for i in order {
            let e = entries[i]
            guard let dtype = e.dtype else { skipped.append(e.name); continue }
            let t = Tensor(shape: e.shape)
            convert(UnsafeRawBufferPointer(rebasing: bytes[(dataStart + e.begin)..<(dataStart + e.end)]), dtype, into: t.data)
            tensors.append((e.name, t))
            dtypes[e.name] = dtype
        }
        return Contents(tensors: tensors, dtypes: dtypes, metadata: metadata, skipped: skipped)
    }

    private static func parseMetadata(_ value: JSON, file: String) throws -> [String: String] {
        if case .null = value { return [:] }
        guard case let .object(pairs) = value else {
            throw CheckpointError.malformedHeader(file: file, reason: "__metadata__ is \(value.kindName), expected an object of strings")
        }
        var out: [String: String] = [:]
        for (key, v) in pairs {
            guard case let .string(s) = v else {
                throw CheckpointError.malformedHeader(file: file, reason: "__metadata__ entry '\(key)' is \(v.kindName), expected a string")
            }
            out[key] = s
        }
        return out
    }

    /// Integer and boolean dtypes and their sizes (read only with `skippingIntegerTensors`).
    static let integerDTypeSizes = ["I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    private static func parseEntry(_ name: String, _ value: JSON, file: String, skipIntegers: Bool = false) throws
        -> (name: String, dtype: DType?, shape: [Int], begin: Int, end: Int) {
        func invalid(_ reason: String) -> CheckpointError { .invalidEntry(file: file, tensor: name, reason: reason) }
        guard case let .object(fields) = value else { throw invalid("it is \(value.kindName), expected an object") }
        func field(_ key: String) throws -> JSON {
            guard let v = fields.first(where: { $0.0 == key })?.1 else { throw invalid("no \"\(key)\" field") }
            return v
        }
        func integers(_ key: String) throws -> [Int] {
            guard case let .array(items) = try field(key) else { throw invalid("\"\(key)\" is not an array") }
            return try items.map {
                guard case let .integer(i) = $0, i >= 0 else { throw invalid("\"\(key)\" holds \($0.kindName == "a number" ? "a non-integer or negative number" : $0.kindName)") }
                return i
            }
        }
        guard case let .string(dtypeName) = try field("dtype") else { throw invalid("\"dtype\" is not a string") }
        let dtype = DType(rawValue: dtypeName)
        let integerSize = skipIntegers ? integerDTypeSizes[dtypeName] : nil
        guard dtype != nil || integerSize != nil else {
            throw CheckpointError.unsupportedDType(file: file, tensor: name, dtype: dtypeName)
        }
        let elementSize = dtype?.size ?? integerSize!
        let shape = try integers("shape")
        let offsets = try integers("data_offsets")
        guard offsets.count == 2 else { throw invalid("\"data_offsets\" has \(offsets.count) numbers, expected [begin, end]") }
        guard offsets[0] <= offsets[1] else { throw invalid("\"data_offsets\" \(offsets) ends before it begins") }
        var elements = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow, p <= Int.max / 8 else { throw invalid("shape \(shape) is too large") }
            elements = p
        }
        let found = offsets[1] - offsets[0]
        guard found == elements * elementSize else {
            throw CheckpointError.byteCount(file: file, tensor: name, dtype: dtypeName, shape: shape,
                                            expected: elements * elementSize, found: found)
        }
        return (name, dtype, shape, offsets[0], offsets[1])
    }

    /// Converts little-endian elements of `dtype` to Float32.
    static func convert(_ src: UnsafeRawBufferPointer, _ dtype: DType, into dst: UnsafeMutablePointer<Float>) {
        let n = src.count / dtype.size
        switch dtype {
        case .f32:
            #if _endian(little)
            if n > 0 { UnsafeMutableRawPointer(dst).copyMemory(from: src.baseAddress!, byteCount: n * 4) }
            #else
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            #endif
        case .f16:
            for i in 0..<n { dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<n {
                dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            }
        case .f64:
            for i in 0..<n { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        }
    }

    /// IEEE 754 binary16 → binary32, exact for every value (subnormals, infinities, NaN payloads).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:
            // zero or subnormal: mantissa · 2⁻²⁴, exact in binary32
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }
}
