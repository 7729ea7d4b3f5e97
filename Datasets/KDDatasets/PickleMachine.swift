// The pickle stack machine behind NumpyPickle: builds values, never resolves globals or calls them
// (PickleValue and the numpy-specific reading of its result are in NumpyPickle.swift).
// Internal.
//
// Rules against hostile pickles (Docs/Data.md, "Reading untrusted archives and files"):
// - nesting is bounded: every value carries its depth (0 for scalars, 1 + the deepest item for
//   containers) and a container deeper than `maxNesting` is refused, so no recursive walk or
//   release of a tuple chain can overflow the stack;
// - no quadratic work: lists and dicts are shared boxes, as in Python, so APPEND and SETITEM
//   mutate in place (a memoised list is not copied on every append) and the memo holds the same
//   list the stack does. Boxes can be made to contain each other in any order (even cycles), so
//   their depths are not tracked through later mutations; instead every box made is emptied when
//   the machine is done (`releaseContainers`), which breaks cycles and chains without recursion.

final class PickleBox {
    var items: [PickleValue] = []
    var pairs: [(PickleValue, PickleValue)] = []
    /// 1 + the deepest item ever added (a lower bound once boxes nest in one another).
    var depth = 1
}

struct PickleMachine {
    let bytes: [UInt8]
    let name: String
    private var position = 0
    private var stack: [Slot] = []
    private var memo: [Int: Slot] = [:]
    private var boxes: [PickleBox] = []

    /// A value and its nesting depth.
    private struct Slot {
        var value: PickleValue
        var storedDepth: Int
        var depth: Int {
            switch value {
            case .list(let box), .dict(let box): return box.depth
            default: return storedDepth
            }
        }
    }

    /// Bounds on a hostile pickle's memory use beyond its own size.
    static let maxStackDepth = 100_000
    static let maxMemoEntries = 1_000_000
    /// Deepest nesting of containers: a numpy array pickles 4 levels deep.
    static let maxNesting = 100

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

    private mutating func pushSlot(_ slot: Slot) throws {
        guard stack.count < PickleMachine.maxStackDepth else { throw fail("stack deeper than \(PickleMachine.maxStackDepth)") }
        stack.append(slot)
    }

    /// Pushes a scalar (depth 0).
    private mutating func push(_ value: PickleValue) throws { try pushSlot(Slot(value: value, storedDepth: 0)) }

    /// Pushes a container of `items`, refusing one nested deeper than ``maxNesting``.
    private mutating func push(_ value: PickleValue, containing items: [Slot]) throws {
        try pushSlot(Slot(value: value, storedDepth: try nesting(items)))
    }

    /// 1 + the deepest of `items`, refused beyond ``maxNesting``.
    private func nesting(_ items: [Slot]) throws -> Int {
        let depth = 1 + (items.map(\.depth).max() ?? 0)
        guard depth <= PickleMachine.maxNesting else {
            throw fail("values nested deeper than \(PickleMachine.maxNesting) levels (a numpy pickle nests 4)")
        }
        return depth
    }

    private mutating func newBox() -> PickleBox {
        let box = PickleBox()
        boxes.append(box)
        return box
    }

    private mutating func popSlot() throws -> Slot {
        guard let slot = stack.popLast() else { throw fail("pop from an empty stack") }
        return slot
    }

    private mutating func pop() throws -> PickleValue { try popSlot().value }

    /// Everything above the topmost mark, which is removed.
    private mutating func popToMark() throws -> [Slot] {
        guard let m = stack.lastIndex(where: { if case .mark = $0.value { return true } else { return false } }) else {
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

    private func recall(_ index: Int) throws -> Slot {
        guard let slot = memo[index] else { throw fail("memo entry \(index) was never stored") }
        return slot
    }

    /// Empties every list and dict made, so that releasing the values never recurses through
    /// chains or cycles of boxes. Call once the result has been read.
    mutating func releaseContainers() {
        for box in boxes { box.items = []; box.pairs = [] }
        boxes = []
        stack = []
        memo = [:]
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
                return stack[0].value
            case 0x28: try push(.mark)                                    // MARK
            case 0x30: _ = try pop()                                      // POP
            case 0x31: _ = try popToMark()                                // POP_MARK
            case 0x32: guard let top = stack.last else { throw fail("DUP on an empty stack") }; try pushSlot(top)
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
            case 0x29: try push(.tuple([]), containing: [])               // EMPTY_TUPLE
            case 0x74:                                                    // TUPLE
                let items = try popToMark()
                try push(.tuple(items.map(\.value)), containing: items)
            case 0x85, 0x86, 0x87:                                        // TUPLE1/2/3
                let n = Int(op - 0x84)
                guard stack.count >= n else { throw fail("TUPLE\(n) with \(stack.count) values", at: offset) }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(.tuple(items.map(\.value)), containing: items)
            case 0x5D, 0x6C:                                              // EMPTY_LIST, LIST
                let items = op == 0x6C ? try popToMark() : []
                let box = newBox()
                box.depth = try nesting(items)
                box.items = items.map(\.value)
                try pushSlot(Slot(value: .list(box), storedDepth: 0))
            case 0x61, 0x65:                                              // APPEND, APPENDS
                let items = op == 0x61 ? [try popSlot()] : try popToMark()
                guard case .list(let box) = try pop() else { throw fail("APPEND to a non-list", at: offset) }
                box.depth = max(box.depth, try nesting(items))
                box.items.append(contentsOf: items.map(\.value))         // in place: the list is never copied
                try pushSlot(Slot(value: .list(box), storedDepth: 0))
            case 0x7D, 0x64, 0x73, 0x75:                                  // EMPTY_DICT, DICT, SETITEM, SETITEMS
                let items: [Slot]
                switch op {
                case 0x7D: items = []
                case 0x73: let v = try popSlot(), k = try popSlot(); items = [k, v]
                default: items = try popToMark()
                }
                guard items.count % 2 == 0 else { throw fail("odd number of dict items", at: offset) }
                let box: PickleBox
                if op == 0x73 || op == 0x75 {
                    guard case .dict(let existing) = try pop() else { throw fail("SETITEM on a non-dict", at: offset) }
                    box = existing
                } else {
                    box = newBox()
                }
                box.depth = max(box.depth, try nesting(items))
                for i in stride(from: 0, to: items.count, by: 2) { box.pairs.append((items[i].value, items[i + 1].value)) }
                try pushSlot(Slot(value: .dict(box), storedDepth: 0))
            case 0x63:                                                    // GLOBAL "module\nname\n"
                let module = try line()
                try push(.global(module: module, name: try line()))
            case 0x93:                                                    // STACK_GLOBAL
                let n = try pop(), m = try pop()
                guard case .string(let module) = m, case .string(let fn) = n else { throw fail("STACK_GLOBAL needs two strings", at: offset) }
                try push(.global(module: module, name: fn))
            case 0x52, 0x81:                                              // REDUCE, NEWOBJ
                let arguments = try popSlot(), callable = try popSlot()
                try push(PickleMachine.reduce(callable.value, arguments.value), containing: [callable, arguments])
            case 0x62:                                                    // BUILD
                let state = try popSlot(), object = try popSlot()
                guard case .object(let callable, let arguments, _) = object.value else { throw fail("BUILD on a non-object", at: offset) }
                try push(.object(callable: callable, arguments: arguments, state: state.value), containing: [object, state])
            case 0x94: try memoize(memo.count)                            // MEMOIZE
            case 0x71: try memoize(try unsigned(1))                       // BINPUT
            case 0x72: try memoize(try unsigned(4))                       // LONG_BINPUT
            case 0x70:                                                    // PUT (text)
                guard let i = Int(try line()) else { throw fail("bad PUT index", at: offset) }
                try memoize(i)
            case 0x68: try pushSlot(try recall(try unsigned(1)))          // BINGET
            case 0x6A: try pushSlot(try recall(try unsigned(4)))          // LONG_BINGET
            case 0x67:                                                    // GET (text)
                guard let i = Int(try line()) else { throw fail("bad GET index", at: offset) }
                try pushSlot(try recall(i))
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
