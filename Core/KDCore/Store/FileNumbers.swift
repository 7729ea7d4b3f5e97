// Numbers read from files become Ints only through these checks (Docs/Data.md, "Reading untrusted
// archives and files": every count and index is range-checked).
//
// How to use:
//
//     guard let epoch = FileNumbers.int(exactly: value, in: 0...1_000_000) else { throw … }   // Double/Float
//     let column = FileNumbers.clampedInt(x.rounded(.down), in: 0...width)                  // geometry
//     guard let bytes = FileNumbers.product([units, 4], atMost: Int(Int32.max)) else { throw … }
//     let shown = FileNumbers.excerpt(line)                                                  // for messages
//
// Why: `Int(someDouble)` traps on NaN, ±∞ and magnitudes ≥ 2⁶³, and release builds are compiled
// with -Ounchecked, where the trap becomes undefined behaviour and `a * b` silently wraps. A file
// (a box of 1e19, a step count of 1e20, a unit count of 2⁶²) must never reach either.

/// Checked conversions of numbers that come from files.
public enum FileNumbers {
    /// `value` as an Int when it is finite, a whole number and inside `range`; nil otherwise.
    public static func int<F: BinaryFloatingPoint>(exactly value: F, in range: ClosedRange<Int>) -> Int? {
        guard value.isFinite, value == value.rounded(.towardZero),
              Double(value) >= Double(range.lowerBound), Double(value) <= Double(range.upperBound) else { return nil }
        // |value| ≤ max(|bounds|) < 2⁶³, so the conversion is defined.
        return Int(Double(value))
    }

    /// `value` rounded toward zero and clamped to `range`; NaN gives nil. For coordinates that were
    /// already validated and only need to become pixel indices.
    public static func clampedInt<F: BinaryFloatingPoint>(_ value: F, in range: ClosedRange<Int>) -> Int? {
        guard !value.isNaN else { return nil }
        if Double(value) <= Double(range.lowerBound) { return range.lowerBound }
        if Double(value) >= Double(range.upperBound) { return range.upperBound }
        return Int(Double(value).rounded(.towardZero))
    }

    /// An integer from a file (an SQLite column, a JSON number) when it lies inside `range`.
    public static func int<I: BinaryInteger>(_ value: I, in range: ClosedRange<Int>) -> Int? {
        guard let v = Int(exactly: value), range.contains(v) else { return nil }
        return v
    }

    /// The product of non-negative factors when it does not overflow and is at most `limit`
    /// (an allocation size, a byte count); nil otherwise.
    public static func product(_ factors: [Int], atMost limit: Int = Int.max) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (q, overflow) = p.multipliedReportingOverflow(by: f)
            guard !overflow, q <= limit else { return nil }
            p = q
        }
        return p
    }

    /// At most `limit` characters of text taken from a file, with an ellipsis and the full length
    /// when it was cut, so that a 4 MiB line never ends up in a message.
    public static func excerpt(_ text: some StringProtocol, limit: Int = 80) -> String {
        var count = 0
        var end = text.startIndex
        while end < text.endIndex && count < limit { end = text.index(after: end); count += 1 }
        if end == text.endIndex { return String(text) }
        return String(text[..<end]) + "… (\(text.utf8.count) bytes)"
    }

    /// `text` without trailing full stops, to be embedded in a sentence that adds its own.
    public static func clause(_ text: some StringProtocol) -> String {
        var s = Substring(text)
        while s.hasSuffix(".") || s.hasSuffix(" ") { s = s.dropLast() }
        return String(s)
    }
}
