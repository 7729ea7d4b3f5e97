// Sweet Home 3D furniture catalogues (.sh3f): a zip holding PluginFurnitureCatalog.properties and the
// models it names. Debian's sweethome3d-furniture installs five of them in
// /usr/share/sweethome3d/furniture (Docs/Data.md, "Point clouds").

/// Reads Java `.properties` text: ISO-8859-1 bytes, `key=value` or `key: value` or `key value`,
/// `#`/`!` comments, `\` at the end of a line continues it (leading white space of the next line
/// dropped), and the escapes `\uXXXX`, `\t`, `\n`, `\r`, `\f`, `\\`.
public enum JavaProperties {
    public static func parse(_ bytes: [UInt8]) -> [String: String] {
        // ISO-8859-1: every byte is the code point of the same value.
        let text = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        var result: [String: String] = [:]
        var logical = ""
        var continuing = false
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            var line = Substring(rawLine)
            if continuing { line = line.drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" } }
            else {
                line = line.drop { $0 == " " || $0 == "\t" || $0 == "\u{0C}" }
                if line.isEmpty || line.first == "#" || line.first == "!" { continue }
            }
            // An odd number of trailing backslashes continues the line.
            var slashes = 0
            for ch in line.reversed() { if ch == "\\" { slashes += 1 } else { break } }
            if slashes % 2 == 1 {
                logical += line.dropLast()
                continuing = true
                continue
            }
            logical += line
            continuing = false
            let (key, value) = split(logical)
            result[key] = value
            logical = ""
        }
        if continuing && !logical.isEmpty { let (k, v) = split(logical); result[k] = v }
        return result
    }

    static func split(_ line: String) -> (String, String) {
        var key = "", i = line.startIndex
        while i < line.endIndex {
            let ch = line[i]
            if ch == "\\" {
                let next = line.index(after: i)
                if next < line.endIndex { key.append(line[next]); i = line.index(after: next); continue }
            }
            if ch == "=" || ch == ":" || ch == " " || ch == "\t" { break }
            key.append(ch)
            i = line.index(after: i)
        }
        // Skip white space, one separator, white space.
        while i < line.endIndex, line[i] == " " || line[i] == "\t" { i = line.index(after: i) }
        if i < line.endIndex, line[i] == "=" || line[i] == ":" { i = line.index(after: i) }
        while i < line.endIndex, line[i] == " " || line[i] == "\t" { i = line.index(after: i) }
        return (unescape(key), unescape(String(line[i...])))
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = String.UnicodeScalarView()
        var scalars = Array(s.unicodeScalars)[...]
        while let c = scalars.popFirst() {
            guard c == "\\", let e = scalars.popFirst() else { out.append(c); continue }
            switch e {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "f": out.append("\u{0C}")
            case "u":
                let hex = String(String.UnicodeScalarView(scalars.prefix(4)))
                if hex.count == 4, let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) {
                    out.append(u); scalars = scalars.dropFirst(4)
                } else { out.append("u") }
            default: out.append(e)
            }
        }
        return String(out)
    }
}

/// One piece of furniture listed by a catalogue.
public struct CatalogueItem: Sendable, Equatable {
    public var index: Int
    public var name: String
    public var category: String
    /// The OBJ member inside the .sh3f, without the leading "/".
    public var model: String
    /// The ModelNet-like class, or nil when the item maps to none of ``SweetHome3DClasses/names``.
    public var className: String?
}

/// The mapping from catalogue items to ModelNet-like classes (Docs/PointClouds.md, "Classes").
///
/// Rules, first match wins, on the lower-cased English name (`name#N`) and category (`category#N`):
///
/// | class  | rule |
/// |--------|------|
/// | person | category "Characters" |
/// | car    | category "Vehicles", name without bike, bicycle, tricycle, scooter, motorbike, yamaha, skateboard, stroller, fork lift |
/// | lamp   | name has "lamp", "lampshade", "chandelier", "light" (not "lighter") or category "Lights" (not candle, flashlight) |
/// | door   | name has "door" (not "door handle", "doorbell") |
/// | window | name has "window" |
/// | plant  | name has plant, tree, flower, bonsai, cactus, palm, bush, fern, orchid |
/// | sofa   | name has sofa, couch, settee |
/// | bed    | word "bed" or "bunk" or "cradle" or "crib" (not "bedside", "bedroom", "bed table") |
/// | desk   | word "desk" |
/// | chair  | "chair", "stool" (not "wheelchair"), "bench" |
/// | table  | word "table" (not "table lamp": lamps came first) |
/// | bottle | "bottle" |
///
/// Everything else (kitchen appliances, shelves, bathroom fittings, …) is left out.
public enum SweetHome3DClasses {
    public static let names = ["table", "chair", "person", "sofa", "lamp", "door", "window", "plant", "bed", "car", "desk", "bottle"]

    public static func classify(name: String, category: String) -> String? {
        let n = name.lowercased(), c = category.lowercased()
        let words = Set(n.split { !$0.isLetter }.map(String.init))
        func has(_ parts: String...) -> Bool { parts.contains { n.contains($0) } }
        if c == "characters" { return "person" }
        if c == "vehicles" {
            return has("bike", "bicycle", "tricycle", "scooter", "motorbike", "yamaha", "skateboard", "stroller", "fork lift") ? nil : "car"
        }
        if (has("lamp", "chandelier") || (n.contains("light") && !n.contains("lighter")) || c == "lights") && !has("candle", "flashlight") {
            return "lamp"
        }
        if n.contains("door") && !has("door handle", "doorbell") { return "door" }
        if n.contains("window") { return "window" }
        if has("plant", "tree", "flower", "bonsai", "cactus", "palm", "bush", "fern", "orchid") { return "plant" }
        if has("sofa", "couch", "settee") { return "sofa" }
        if (words.contains("bed") || words.contains("bunk") || words.contains("cradle") || words.contains("crib")) && !has("bedside", "bed table") {
            return "bed"
        }
        if words.contains("desk") { return "desk" }
        if (n.contains("chair") && !n.contains("wheelchair")) || words.contains("stool") || words.contains("bench") { return "chair" }
        if words.contains("table") { return "table" }
        if n.contains("bottle") { return "bottle" }
        return nil
    }

    /// The items of a catalogue's properties, in index order (every item with a name and a model).
    public static func items(_ properties: [String: String]) -> [CatalogueItem] {
        var indices: [Int] = []
        for key in properties.keys where key.hasPrefix("model#") {
            if let i = Int(key.dropFirst(6)) { indices.append(i) }
        }
        return indices.sorted().compactMap { i in
            guard let model = properties["model#\(i)"], let name = properties["name#\(i)"] else { return nil }
            let category = properties["category#\(i)"] ?? ""
            let member = model.hasPrefix("/") ? String(model.dropFirst()) : model
            return CatalogueItem(index: i, name: name, category: category, model: member,
                                 className: classify(name: name, category: category))
        }
    }
}
