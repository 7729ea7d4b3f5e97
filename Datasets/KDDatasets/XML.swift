// A small, bounded XML reader for dataset annotations (Pascal VOC, ILSVRC DET).
//
// How to use:
//
//     let annotation = try XML.parse(bytes: member, name: "VOC2012.tar:VOCdevkit/VOC2012/Annotations/2007_000032.xml")
//     let width = try annotation.int("size/width")                    // errors name the file and line
//     for object in annotation.children(named: "object") {
//         let label = try object.string("name")
//         let box = try object.required("bndbox")
//         let xmin = try box.double("xmin")                            // VOC: 1-based, inclusive
//         let difficult = object.child(named: "difficult")?.text == "1"
//     }
//
// Supported: elements, attributes (single or double quotes), character data, CDATA, comments,
// processing instructions, the five predefined entities and numeric character references.
// A DOCTYPE is skipped and never defines entities, so entity-expansion bombs cannot exist; an
// undefined entity is an error. Nesting is limited (default 64) and so is the input size.
import Foundation
import KDCore

/// A refusal to read an XML file, naming the file and line.
public enum XMLError: Error, Equatable, CustomStringConvertible {
    case malformed(file: String, line: Int, reason: String)
    case tooDeep(file: String, line: Int, limit: Int)
    case tooLarge(file: String, size: Int, limit: Int)
    /// A required child element is absent.
    case missing(file: String, line: Int, element: String, child: String)
    /// An element's text is not the expected kind of value.
    case badValue(file: String, line: Int, element: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .malformed(file, line, reason):
            return "\(file):\(line): malformed XML: \(clause(reason))."
        case let .tooDeep(file, line, limit):
            return "\(file):\(line): elements nested deeper than \(limit) levels; annotation files are shallow, so this file is refused."
        case let .tooLarge(file, size, limit):
            return "\(file): \(size) bytes of XML, over the limit of \(limit); this is not an annotation file."
        case let .missing(file, line, element, child):
            return "\(file):\(line): <\(element)> has no <\(child)>, which this dataset's annotations always have. Is this the right annotation folder?"
        case let .badValue(file, line, element, expected, found):
            return "\(file):\(line): <\(element)> should hold \(expected), found \"\(FileNumbers.excerpt(found))\"."
        }
    }
}

/// Caps on one XML document.
public struct XMLLimits: Sendable, Equatable {
    /// 64 levels: VOC and ILSVRC annotations nest 3 deep.
    public var maxDepth: Int
    /// 16 MiB: a VOC annotation is about 1 KB.
    public var maxBytes: Int

    public init(maxDepth: Int = 64, maxBytes: Int = 16 << 20) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
    }
}

/// An element: its name, attributes, child elements in order, and the character data directly
/// inside it.
public struct XMLElement: Equatable, Sendable {
    public let name: String
    public let attributes: [String: String]
    public let children: [XMLElement]
    /// Character data directly inside this element (children's text excluded), entities decoded.
    public let rawText: String
    /// The line of the start tag (1-based).
    public let line: Int
    /// The document's name, for messages.
    public let file: String

    /// `rawText` without leading and trailing whitespace.
    public var text: String { rawText.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// The first child element named `name`.
    public func child(named name: String) -> XMLElement? { children.first { $0.name == name } }

    /// Every child element named `name`, in document order.
    public func children(named name: String) -> [XMLElement] { children.filter { $0.name == name } }

    /// The element at a slash-separated path of child names ("size/width"), or nil.
    public func element(_ path: String) -> XMLElement? {
        var current = self
        for part in path.split(separator: "/") {
            guard let next = current.child(named: String(part)) else { return nil }
            current = next
        }
        return current
    }

    /// The element at `path`; throws ``XMLError/missing(file:line:element:child:)`` naming the first
    /// absent step.
    public func required(_ path: String) throws -> XMLElement {
        var current = self
        for part in path.split(separator: "/") {
            guard let next = current.child(named: String(part)) else {
                throw XMLError.missing(file: file, line: current.line, element: current.name, child: String(part))
            }
            current = next
        }
        return current
    }

    /// The trimmed text at `path`.
    public func string(_ path: String) throws -> String { try required(path).text }

    /// The integer at `path`.
    public func int(_ path: String) throws -> Int {
        let e = try required(path)
        guard let value = Int(e.text) else { throw XMLError.badValue(file: file, line: e.line, element: e.name, expected: "an integer", found: e.text) }
        return value
    }

    /// The finite number at `path` (VOC writes some coordinates as "273.5").
    public func double(_ path: String) throws -> Double {
        let e = try required(path)
        guard let value = Double(e.text), value.isFinite else {
            throw XMLError.badValue(file: file, line: e.line, element: e.name, expected: "a finite number", found: e.text)
        }
        return value
    }
}

public enum XML {
    /// Parses one document and returns its root element.
    public static func parse(bytes: [UInt8], name: String, limits: XMLLimits = XMLLimits()) throws -> XMLElement {
        guard bytes.count <= limits.maxBytes else { throw XMLError.tooLarge(file: name, size: bytes.count, limit: limits.maxBytes) }
        if let bad = XML.firstInvalidUTF8(bytes), !(bad < 2 && bytes.count >= 2 && (bytes[0] == 0xFF || bytes[0] == 0xFE)) {
            let line = bytes[..<bad].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
            throw XMLError.malformed(file: name, line: line, reason: String(format: "byte %d (0x%02x) is not valid UTF-8; ", bad, bytes[bad])
                + "annotation files are UTF-8 or ASCII (re-save the file as UTF-8)")
        }
        var parser = XMLParser(bytes: bytes, file: name, limits: limits)
        return try parser.document()
    }

    /// The offset of the first byte that does not belong to a well-formed UTF-8 sequence (overlong
    /// forms, surrogates and values beyond U+10FFFF included), or nil when all of them do.
    static func firstInvalidUTF8(_ b: [UInt8]) -> Int? {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            let length: Int, smallest: UInt32
            var value: UInt32
            if c & 0xE0 == 0xC0 { length = 2; smallest = 0x80; value = UInt32(c & 0x1F) }
            else if c & 0xF0 == 0xE0 { length = 3; smallest = 0x800; value = UInt32(c & 0x0F) }
            else if c & 0xF8 == 0xF0 { length = 4; smallest = 0x10000; value = UInt32(c & 0x07) }
            else { return i }
            guard length <= n - i else { return i }
            for k in 1..<length {
                let d = b[i + k]
                guard d & 0xC0 == 0x80 else { return i }
                value = value << 6 | UInt32(d & 0x3F)
            }
            if value < smallest || value > 0x10FFFF || (0xD800...0xDFFF).contains(value) { return i }
            i += length
        }
        return nil
    }

    /// Parses text (convenience for tests and small inline documents).
    public static func parse(_ text: String, name: String, limits: XMLLimits = XMLLimits()) throws -> XMLElement {
        try parse(bytes: Array(text.utf8), name: name, limits: limits)
    }
}
