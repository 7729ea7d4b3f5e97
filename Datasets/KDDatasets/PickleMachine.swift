// The pickle stack machine behind NumpyPickle: builds values, never resolves globals or calls them.
// Internal. Memo entries are copies (values, not references): enough for the tree-shaped pickles
// numpy writes, not for self-referencing objects.

struct PickleMachine {
    let bytes: [UInt8]
    let name: String
    private var position = 0
    private var stack: [PickleValue] = []
    private var memo: [Int: PickleValue] = [:]

    /// Bounds on a hostile pickle's memory use beyond its own size.
    static let maxStackDepth = 100_000
    static let maxMemoEntries = 1_000_000

    init(bytes: [UInt8], name: String) {
        self.bytes = bytes
        self.name = name
    }

    private func fail(_ reason: String, at offset: Int? = nil) -> DataFileError {
        .malformed(file: name, offset: offset ?? position, reason: reason)
    }

    // MARK: Reading operands

    private mutating func take(_ count: Int) throws -> Range<Int> {
        guard count >= 0, count <= bytes.count - position else {
            throw fail("an operand of \(count) bytes runs past the end of the data (\(bytes.count - position) left): the file is truncated")
        }
        defer { position += count }
        return position..<(position + count)
    }

    private mutating func unsigned(_ count: Int) throws -> Int {
        let r = try take(count)
        var value: UInt64 = 0
        for (i, b) in bytes[r].enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        guard value <= UInt64(Int.max) else { throw fail("length \(value) is out of range") }
        return Int(value)
    }

    private mutating func signed32() throws -> Int { Int(Int32(truncatingIfNeeded: try unsigned(4))) }

    private mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw fail("unterminated text operand") }
        let text = String(decoding: bytes[position..<end], as: UTF8.self)
        position = end + 1
        return text
    }

    private mutating func text(_ count: Int) throws -> String {
        String(decoding: bytes[try take(count)], as: UTF8.self)
    }

    // MARK: Stack

    private mutating func push(_ value: PickleValue) throws {
        guard stack.count < PickleMachine.maxStackDepth else { throw fail("stack deeper than \(PickleMachine.maxStackDepth)") }
        stack.append(value)
    }

    private mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw fail("pop from an empty stack") }
        return value
    }

    /// Everything above the topmost mark, which is removed.
    private mutating func popToMark() throws -> [PickleValue] {
        guard let m = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw fail("no MARK on the stack")
        }
        let items = Array(stack[(m + 1)...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func memoize(_ index: Int) throws {
        guard let top = stack.last else { throw fail("memoize with an empty stack") }
        guard memo.count < PickleMachine.maxMemoEntries || memo[index] != nil else { throw fail("too many memo entries") }
        memo[index] = top
    }

    private func recall(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("memo entry \(index) was never stored") }
        return value
    }

    // MARK: Running

    /// Runs to STOP and returns the pickled object.
    mutating func run() throws -> PickleValue {
        while position < bytes.count {
            let offset = position
            let op = bytes[position]
            position += 1
            switch op {
            case 0x80: _ = try take(1)                                    // PROTO
            case 0x95: _ = try take(8)                                    // FRAME (length only)
            case 0x2E:                                                    // STOP
                guard stack.count == 1 else { throw fail("STOP with \(stack.count) values on the stack", at: offset) }
                return stack[0]
            case 0x28: try push(.mark)                                    // MARK
            case 0x30: _ = try pop()                                      // POP
            case 0x31: _ = try popToMark()                                // POP_MARK
            case 0x32: guard let top = stack.last else { throw fail("DUP on an empty stack") }; try push(top)
            case 0x4E: try push(.none)                                    // NONE
            case 0x88: try push(.bool(true))                              // NEWTRUE
            case 0x89: try push(.bool(false))                             // NEWFALSE
            case 0x4A: try push(.int(try signed32()))                     // BININT
            case 0x4B: try push(.int(try unsigned(1)))                    // BININT1
            case 0x4D: try push(.int(try unsigned(2)))                    // BININT2
            case 0x8A, 0x8B:                                              // LONG1, LONG4
                let n = op == 0x8A ? try unsigned(1) : try unsigned(4)
                guard n <= 8 else { throw fail("integer of \(n) bytes is too large", at: offset) }
                let r = try take(n)
                var value: UInt64 = 0
                for (i, b) in bytes[r].enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
                if n > 0 && n < 8 && bytes[r.upperBound - 1] & 0x80 != 0 { value |= ~0 << (8 * UInt64(n)) }
                try push(.int(Int(truncatingIfNeeded: value)))
            case 0x47:                                                    // BINFLOAT (big-endian)
                let r = try take(8)
                try push(.float(Double(bitPattern: bytes[r].reduce(0) { $0 << 8 | UInt64($1) })))
            case 0x8C: try push(.string(try text(try unsigned(1))))       // SHORT_BINUNICODE
            case 0x58: try push(.string(try text(try unsigned(4))))       // BINUNICODE
            case 0x8D: try push(.string(try text(try unsigned(8))))       // BINUNICODE8
            case 0x43, 0x55: try push(.bytes(try take(try unsigned(1))))  // SHORT_BINBYTES, SHORT_BINSTRING
            case 0x42: try push(.bytes(try take(try unsigned(4))))        // BINBYTES
            case 0x54: try push(.bytes(try take(try signed32())))         // BINSTRING
            case 0x8E, 0x96: try push(.bytes(try take(try unsigned(8))))  // BINBYTES8, BYTEARRAY8
            case 0x29: try push(.tuple([]))                               // EMPTY_TUPLE
            case 0x74: try push(.tuple(try popToMark()))                  // TUPLE
            case 0x85, 0x86, 0x87:                                        // TUPLE1/2/3
                let n = Int(op - 0x84)
                guard stack.count >= n else { throw fail("TUPLE\(n) with \(stack.count) values", at: offset) }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(.tuple(items))
            case 0x5D: try push(.list([]))                                // EMPTY_LIST
            case 0x6C: try push(.list(try popToMark()))                   // LIST
            case 0x61, 0x65:                                              // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popToMark()
                guard case .list(let list) = try pop() else { throw fail("APPEND to a non-list", at: offset) }
                try push(.list(list + items))
            case 0x7D: try push(.dict([]))                                // EMPTY_DICT
            case 0x64, 0x73, 0x75:                                        // DICT, SETITEM, SETITEMS
                let items = op == 0x73 ? try [pop(), pop()].reversed() : try popToMark()
                guard items.count % 2 == 0 else { throw fail("odd number of dict items", at: offset) }
                var pairs: [(PickleValue, PickleValue)] = []
                if op != 0x64 {
                    guard case .dict(let existing) = try pop() else { throw fail("SETITEM on a non-dict", at: offset) }
                    pairs = existing
                }
                for i in stride(from: 0, to: items.count, by: 2) { pairs.append((items[i], items[i + 1])) }
                try push(.dict(pairs))
            case 0x63:                                                    // GLOBAL "module\nname\n"
                let module = try line()
                try push(.global(module: module, name: try line()))
            case 0x93:                                                    // STACK_GLOBAL
                let n = try pop(), m = try pop()
                guard case .string(let module) = m, case .string(let fn) = n else { throw fail("STACK_GLOBAL needs two strings", at: offset) }
                try push(.global(module: module, name: fn))
            case 0x52, 0x81:                                              // REDUCE, NEWOBJ
                let arguments = try pop(), callable = try pop()
                try push(PickleMachine.reduce(callable, arguments))
            case 0x62:                                                    // BUILD
                let state = try pop()
                guard case .object(let callable, let arguments, _) = try pop() else { throw fail("BUILD on a non-object", at: offset) }
                try push(.object(callable: callable, arguments: arguments, state: state))
            case 0x94: try memoize(memo.count)                            // MEMOIZE
            case 0x71: try memoize(try unsigned(1))                       // BINPUT
            case 0x72: try memoize(try unsigned(4))                       // LONG_BINPUT
            case 0x70:                                                    // PUT (text)
                guard let i = Int(try line()) else { throw fail("bad PUT index", at: offset) }
                try memoize(i)
            case 0x68: try push(try recall(try unsigned(1)))              // BINGET
            case 0x6A: try push(try recall(try unsigned(4)))              // LONG_BINGET
            case 0x67:                                                    // GET (text)
                guard let i = Int(try line()) else { throw fail("bad GET index", at: offset) }
                try push(try recall(i))
            case 0x97, 0x98:
                throw DataFileError.unsupported(file: name, reason: "the pickle refers to out-of-band buffers (protocol 5 NEXT_BUFFER); save it with buffers in-band")
            default:
                throw fail(String(format: "unsupported pickle opcode 0x%02x (protocols 2 to 5 are read)", op), at: offset)
            }
        }
        throw fail("no STOP opcode: the file is truncated")
    }

    /// A REDUCE is recorded, except protocol 2's encodings of `bytes` under Python 3,
    /// `_codecs.encode(text, 'latin1')` and `__builtin__.bytes()` for b'', which are evaluated
    /// (pure functions with known results).
    private static func reduce(_ callable: PickleValue, _ arguments: PickleValue) -> PickleValue {
        if case .global(let module, "bytes") = callable, module == "__builtin__" || module == "builtins",
           case .tuple(let a) = arguments, a.isEmpty {
            return .ownedBytes([])
        }
        if case .global("_codecs", "encode") = callable, case .tuple(let a) = arguments, a.count == 2,
           case .string(let text) = a[0], case .string(let encoding) = a[1], encoding == "latin1" || encoding == "latin-1" {
            let scalars = text.unicodeScalars
            if scalars.allSatisfy({ $0.value < 256 }) { return .ownedBytes(scalars.map { UInt8($0.value) }) }
        }
        return .object(callable: callable, arguments: arguments, state: nil)
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
