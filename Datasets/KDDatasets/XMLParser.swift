// The byte-level XML parser behind `XML.parse`. Internal.

struct XMLParser {
    let bytes: [UInt8]
    let file: String
    let limits: XMLLimits
    private var position = 0
    private var line = 1

    /// An element under construction.
    private struct Open {
        var name: String
        var attributes: [String: String]
        var children: [XMLElement] = []
        var text: [UInt8] = []
        var line: Int
    }

    init(bytes: [UInt8], file: String, limits: XMLLimits) {
        self.bytes = bytes
        self.file = file
        self.limits = limits
    }

    private func fail(_ reason: String) -> XMLError { .malformed(file: file, line: line, reason: reason) }

    private var atEnd: Bool { position >= bytes.count }

    private func peek(_ offset: Int = 0) -> UInt8? {
        position + offset < bytes.count ? bytes[position + offset] : nil
    }

    /// Whether the bytes at `position` are `text`. Called for every byte of a comment or CDATA section, so
    /// it compares in place (a String's UTF-8 copied into an array per call made a 640 KB CDATA section
    /// take 10 s under the fuzzer).
    private func starts(with text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard bytes.count - position >= n else { return false }
        return text.withUTF8Buffer { t in
            for k in 0..<n where bytes[position + k] != t[k] { return false }
            return true
        }
    }

    private mutating func advance(_ count: Int = 1) {
        for _ in 0..<count where position < bytes.count {
            if bytes[position] == 0x0A { line += 1 }
            position += 1
        }
    }

    /// Skips past the next occurrence of `terminator`.
    private mutating func skip(past terminator: StaticString, what: String) throws {
        let startLine = line
        while !atEnd {
            if starts(with: terminator) { advance(terminator.utf8CodeUnitCount); return }
            advance()
        }
        line = startLine
        throw fail("unterminated \(what)")
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private mutating func skipSpace() { while let b = peek(), XMLParser.isSpace(b) { advance() } }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
            || b == 0x5F || b == 0x3A || b == 0x2D || b == 0x2E || b >= 0x80
    }

    private mutating func name() throws -> String {
        let start = position
        while let b = peek(), XMLParser.isNameByte(b) { advance() }
        guard position > start else {
            throw fail("expected a name, found \(peek().map { "'\(Character(Unicode.Scalar($0)))'" } ?? "the end of the file")")
        }
        let first = bytes[start]
        guard !(first >= 0x30 && first <= 0x39) && first != 0x2D && first != 0x2E else {
            throw fail("a name cannot start with '\(Character(Unicode.Scalar(first)))'")
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    // MARK: Document

    mutating func document() throws -> XMLElement {
        if starts(with: "\u{FEFF}") { advance(3) }
        if bytes.count >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF)) {
            throw fail("UTF-16 XML is not supported; convert the file to UTF-8")
        }
        var stack: [Open] = []
        var root: XMLElement?
        while !atEnd {
            if peek() == 0x3C {   // '<'
                if starts(with: "<!--") { try skip(past: "-->", what: "comment"); continue }
                if starts(with: "<?") { try skip(past: "?>", what: "processing instruction"); continue }
                if starts(with: "<![CDATA[") {
                    guard !stack.isEmpty else { throw fail("CDATA outside the root element") }
                    advance(9)
                    let start = position
                    try skip(past: "]]>", what: "CDATA section")
                    stack[stack.count - 1].text += bytes[start..<(position - 3)]
                    continue
                }
                if starts(with: "<!DOCTYPE") {
                    guard stack.isEmpty && root == nil else { throw fail("DOCTYPE inside the document") }
                    try skipDoctype()
                    continue
                }
                if starts(with: "</") {
                    advance(2)
                    let closing = try name()
                    skipSpace()
                    guard peek() == 0x3E else { throw fail("expected '>' after </\(closing)") }
                    advance()
                    guard let open = stack.popLast() else { throw fail("</\(closing)> without a matching start tag") }
                    guard open.name == closing else { throw fail("</\(closing)> closes <\(open.name)> opened at line \(open.line)") }
                    let element = XMLElement(name: open.name, attributes: open.attributes, children: open.children,
                                             rawText: String(decoding: open.text, as: UTF8.self), line: open.line, file: file)
                    if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                    continue
                }
                guard root == nil else { throw fail("content after the root element") }
                let (open, selfClosing) = try startTag()
                if selfClosing {
                    let element = XMLElement(name: open.name, attributes: open.attributes, children: [], rawText: "",
                                             line: open.line, file: file)
                    if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                } else {
                    guard stack.count < limits.maxDepth else { throw XMLError.tooDeep(file: file, line: open.line, limit: limits.maxDepth) }
                    stack.append(open)
                }
            } else {
                let text = try characterData()
                if stack.isEmpty {
                    guard text.allSatisfy(XMLParser.isSpace) else { throw fail("text outside the root element") }
                } else {
                    stack[stack.count - 1].text += text
                }
            }
        }
        if let open = stack.last { throw fail("<\(open.name)> opened at line \(open.line) is never closed (the file is truncated?)") }
        guard let root else { throw fail("no root element") }
        return root
    }

    /// `<name attr="value" …>` or `…/>`; the position is on '<'.
    private mutating func startTag() throws -> (Open, Bool) {
        let tagLine = line
        advance()
        let tag = try name()
        var attributes: [String: String] = [:]
        while true {
            let hadSpace = peek().map(XMLParser.isSpace) ?? false
            skipSpace()
            guard let b = peek() else { throw fail("unterminated start tag <\(tag)") }
            if b == 0x3E { advance(); return (Open(name: tag, attributes: attributes, line: tagLine), false) }
            if b == 0x2F {
                advance()
                guard peek() == 0x3E else { throw fail("expected '>' after '/' in <\(tag)>") }
                advance()
                return (Open(name: tag, attributes: attributes, line: tagLine), true)
            }
            guard hadSpace else { throw fail("expected a space before attribute in <\(tag)>") }
            let key = try name()
            skipSpace()
            guard peek() == 0x3D else { throw fail("attribute \(key) in <\(tag)> has no '='") }
            advance()
            skipSpace()
            guard let quote = peek(), quote == 0x22 || quote == 0x27 else { throw fail("attribute \(key) in <\(tag)> is not quoted") }
            advance()
            var value: [UInt8] = []
            while true {
                guard let c = peek() else { throw fail("unterminated value of attribute \(key)") }
                if c == quote { advance(); break }
                if c == 0x3C { throw fail("'<' in the value of attribute \(key)") }
                if c == 0x26 { value += try entity() } else { value.append(c); advance() }
            }
            guard attributes[key] == nil else { throw fail("attribute \(key) repeated in <\(tag)>") }
            attributes[key] = String(decoding: value, as: UTF8.self)
        }
    }

    /// Text up to the next '<', entities decoded.
    private mutating func characterData() throws -> [UInt8] {
        var out: [UInt8] = []
        while let b = peek(), b != 0x3C {
            if b == 0x26 { out += try entity() } else { out.append(b); advance() }
        }
        return out
    }

    /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#NN;` `&#xHH;` as UTF-8; the position is on '&'.
    private mutating func entity() throws -> [UInt8] {
        advance()
        let start = position
        while let b = peek(), b != 0x3B {
            guard position - start < 12, XMLParser.isNameByte(b) || b == 0x23 else { throw fail("malformed entity reference") }
            advance()
        }
        guard peek() == 0x3B else { throw fail("unterminated entity reference") }
        let body = String(decoding: bytes[start..<position], as: UTF8.self)
        advance()
        switch body {
        case "lt": return [0x3C]
        case "gt": return [0x3E]
        case "amp": return [0x26]
        case "quot": return [0x22]
        case "apos": return [0x27]
        default:
            guard body.hasPrefix("#") else { throw fail("undefined entity &\(body); (only the five predefined entities exist here)") }
            let digits = body.dropFirst()
            let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
            guard let value, value != 0, let scalar = Unicode.Scalar(value) else { throw fail("invalid character reference &\(body);") }
            return Array(String(Character(scalar)).utf8)
        }
    }

    /// `<!DOCTYPE name … [internal subset]>`: skipped; nothing it declares is used.
    private mutating func skipDoctype() throws {
        let startLine = line
        var bracketDepth = 0
        var quote: UInt8? = nil
        advance(9)
        while let b = peek() {
            advance()
            if let q = quote { if b == q { quote = nil }; continue }
            switch b {
            case 0x22, 0x27: quote = b
            case 0x5B: bracketDepth += 1
            case 0x5D: bracketDepth -= 1
            case 0x3E where bracketDepth <= 0: return
            default: break
            }
        }
        line = startLine
        throw fail("unterminated DOCTYPE")
    }
}
