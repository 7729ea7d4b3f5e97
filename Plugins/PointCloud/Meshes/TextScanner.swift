// A single-pass tokenizer over the bytes of a text mesh file (OFF, ASCII PLY/STL, OBJ, point lists).
// Every byte is looked at once, so a line holding a million indices costs linear time.

struct TextScanner {
    let bytes: [UInt8]
    let name: String
    var position = 0
    /// 1-based line of the byte at `position`.
    var line = 1
    /// Characters starting a comment that runs to the end of the line (0 for none).
    var comment: UInt8 = UInt8(ascii: "#")

    init(_ bytes: [UInt8], name: String, from start: Int = 0) {
        self.bytes = bytes; self.name = name; self.position = start
    }

    var atEnd: Bool { position >= bytes.count }

    @inline(__always) static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 13 || b == 11 || b == 12 }
    /// Separators inside a line: white space, and commas (ModelNet's resampled .txt files).
    @inline(__always) static func isSeparator(_ b: UInt8, commas: Bool) -> Bool { isSpace(b) || (commas && b == 44) }

    /// Skips white space and comments across lines.
    mutating func skipSpaceAndLines() {
        while position < bytes.count {
            let b = bytes[position]
            if b == 10 { line += 1; position += 1 }
            else if TextScanner.isSpace(b) { position += 1 }
            else if b == comment && comment != 0 { skipLine() }
            else { return }
        }
    }

    /// Moves past the end of the current line.
    mutating func skipLine() {
        while position < bytes.count, bytes[position] != 10 { position += 1 }
        if position < bytes.count { position += 1; line += 1 }
    }

    /// The next token anywhere (crossing lines), or nil at the end.
    mutating func token() -> Range<Int>? {
        skipSpaceAndLines()
        guard position < bytes.count else { return nil }
        let start = position
        while position < bytes.count, !TextScanner.isSpace(bytes[position]), bytes[position] != 10 { position += 1 }
        return start..<position
    }

    /// The next token on the current line, or nil at its end (the newline is not consumed).
    mutating func tokenOnLine(commas: Bool = false) -> Range<Int>? {
        while position < bytes.count, TextScanner.isSeparator(bytes[position], commas: commas) { position += 1 }
        guard position < bytes.count, bytes[position] != 10, !(comment != 0 && bytes[position] == comment) else { return nil }
        let start = position
        while position < bytes.count, !TextScanner.isSeparator(bytes[position], commas: commas), bytes[position] != 10 { position += 1 }
        return start..<position
    }

    func text(_ r: Range<Int>) -> String {
        let s = String(decoding: bytes[r.prefix(40)], as: UTF8.self)
        return r.count > 40 ? "\"\(s)…\"" : "\"\(s)\""
    }

    func equals(_ r: Range<Int>, _ word: String) -> Bool {
        let w = Array(word.utf8)
        return r.count == w.count && zip(bytes[r], w).allSatisfy { $0 == $1 }
    }

    /// A decimal integer (optional sign), or nil.
    func integer(_ r: Range<Int>) -> Int? {
        var i = r.lowerBound, negative = false
        if i < r.upperBound, bytes[i] == 45 || bytes[i] == 43 { negative = bytes[i] == 45; i += 1 }
        guard i < r.upperBound, r.upperBound - i <= 18 else { return nil }
        var v = 0
        while i < r.upperBound {
            let d = Int(bytes[i]) - 48
            guard d >= 0 && d <= 9 else { return nil }
            v = v * 10 + d; i += 1
        }
        return negative ? -v : v
    }

    /// A floating-point number, or nil (so "nan" and "inf" parse, and are refused by the caller).
    func number(_ r: Range<Int>) -> Double? {
        // Fast path: [-]digits[.digits] without exponent, exact enough for Float coordinates.
        var i = r.lowerBound, negative = false
        if i < r.upperBound, bytes[i] == 45 || bytes[i] == 43 { negative = bytes[i] == 45; i += 1 }
        var mantissa: UInt64 = 0, digits = 0, scale = 0, sawDot = false, simple = i < r.upperBound
        while i < r.upperBound && simple {
            let b = bytes[i]
            if b >= 48 && b <= 57 {
                if digits < 18 { mantissa = mantissa * 10 + UInt64(b - 48); digits += 1; if sawDot { scale += 1 } }
                else if !sawDot { simple = false }
            } else if b == 46 && !sawDot { sawDot = true }
            else { simple = false }
            i += 1
        }
        if simple && (digits > 0) {
            var v = Double(mantissa)
            if scale > 0 { v /= pow10[scale] }
            return negative ? -v : v
        }
        return Double(String(decoding: bytes[r], as: UTF8.self))
    }
}

private let pow10: [Double] = (0...18).map { var p = 1.0; for _ in 0..<$0 { p *= 10 }; return p }
