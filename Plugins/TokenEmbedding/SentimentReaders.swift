import Foundation
import KDCore
import KDDatasets

/// One labelled sentence as read from a file, with where it came from (for messages).
public struct LabelledSentence: Sendable, Equatable {
    public var id: String
    public var text: String
    public var label: Int
}

/// Rows read from a file: the usable ones, and one line per row left out (file:line: reason).
public struct ReadRows<T> {
    public var rows: [T] = []
    public var problems: [String] = []
    /// Counted exclusions that are not errors (e.g. neutral snippets, unlabelled test rows).
    public var dropped: [String: Int] = [:]
}

/// Splits bytes into lines (LF, with a trailing CR removed), each decoded as UTF-8 on its own so an invalid
/// byte sequence is reported on its line; lines are numbered from 1.
func textLines(_ bytes: [UInt8]) -> [(line: Int, text: String?)] {
    var out: [(Int, String?)] = []
    var start = 0, number = 1
    func emit(_ end: Int) {
        var e = end
        if e > start && bytes[e - 1] == 13 { e -= 1 }
        let slice = bytes[start..<e]
        out.append((number, String(validating: slice, as: UTF8.self)))
    }
    for i in 0..<bytes.count where bytes[i] == 10 {
        emit(i); start = i + 1; number += 1
    }
    if start < bytes.count { emit(bytes.count) }
    return out
}

/// The Rotten Tomatoes movie-review snippets of Hutto & Gilbert (ICWSM 2014), shipped in the vaderSentiment
/// source distribution as `additional_resources/hutto_ICWSM_2014.tar.gz` → `movieReviewSnippets_GroundTruth.txt`:
/// 10,605 rows `id<TAB>mean rating<TAB>snippet` (CRLF), ratings in about −4 … +4 (the mean of human raters).
///
/// Label: positive (1) when the rating is > 0, negative (0) when < 0; a rating of exactly 0 is dropped and
/// counted. Split (deterministic, no randomness): rows whose id is a multiple of 5 are the test split
/// (20 %), the rest train.
public enum RottenTomatoesFormat {
    public static let member = "movieReviewSnippets_GroundTruth.txt"

    /// True when the first non-empty line looks like `integer<TAB>number<TAB>text`.
    public static func looksLikeSnippets(_ prefix: [UInt8]) -> Bool {
        guard let first = textLines(prefix).first(where: { !($0.text ?? "x").isEmpty }), let line = first.text else { return false }
        let f = line.components(separatedBy: "\t")
        return f.count == 3 && Int(f[0]) != nil && Double(f[1]) != nil && !f[2].isEmpty
    }

    public static func parse(_ bytes: [UInt8], file: String) -> (train: ReadRows<LabelledSentence>, test: ReadRows<LabelledSentence>) {
        var train = ReadRows<LabelledSentence>(), test = ReadRows<LabelledSentence>()
        var neutral = 0
        for (n, text) in textLines(bytes) {
            guard let line = text else { train.problems.append("\(file):\(n): not valid UTF-8; row skipped"); continue }
            if line.isEmpty { continue }
            let f = line.components(separatedBy: "\t")
            guard f.count == 3 else {
                train.problems.append("\(file):\(n): expected 3 tab-separated columns (id, rating, text), found \(f.count); row skipped"); continue
            }
            guard let id = Int(f[0]), let rating = Double(f[1]), rating.isFinite else {
                train.problems.append("\(file):\(n): id '\(f[0].prefix(20))' or rating '\(f[1].prefix(20))' is not a number; row skipped"); continue
            }
            if rating == 0 { neutral += 1; continue }
            let s = LabelledSentence(id: "rt:\(id)", text: f[2], label: rating > 0 ? 1 : 0)
            if id % 5 == 0 { test.rows.append(s) } else { train.rows.append(s) }
        }
        train.dropped["neutral rating (0)"] = neutral
        return (train, test)
    }
}

/// GLUE SST-2 (Socher et al. 2013; Wang et al. 2019): `SST-2/train.tsv` and `SST-2/dev.tsv`, header
/// `sentence<TAB>label`, labels 0 (negative) / 1 (positive). `test.tsv` has no labels and is not used;
/// the dev set is the test split (GLUE's own test labels are private).
public enum SST2Format {
    public static func isHeader(_ prefix: [UInt8]) -> Bool {
        textLines(prefix).first?.text == "sentence\tlabel"
    }

    public static func parse(_ bytes: [UInt8], file: String) throws -> ReadRows<LabelledSentence> {
        var out = ReadRows<LabelledSentence>()
        let lines = textLines(bytes)
        guard let header = lines.first, header.text == "sentence\tlabel" else {
            throw TextDataError.badRow(file: file, line: 1, reason: "expected the header 'sentence<TAB>label' of GLUE SST-2, found '\(lines.first?.text?.prefix(60) ?? "invalid UTF-8")'")
        }
        for (n, text) in lines.dropFirst() {
            guard let line = text else { out.problems.append("\(file):\(n): not valid UTF-8; row skipped"); continue }
            if line.isEmpty { continue }
            let f = line.components(separatedBy: "\t")
            guard f.count == 2 else {
                out.problems.append("\(file):\(n): expected 2 tab-separated columns (sentence, label), found \(f.count); row skipped"); continue
            }
            guard let label = Int(f[1]), label == 0 || label == 1 else {
                out.problems.append("\(file):\(n): label '\(f[1].prefix(20))' is not 0 or 1; row skipped"); continue
            }
            out.rows.append(LabelledSentence(id: "sst2:\((file as NSString).lastPathComponent):\(n)", text: f[0], label: label))
        }
        return out
    }
}

/// Where a text dataset's files are: a plain file, a folder, or members of an archive (zip, tar.gz,
/// nested tar.gz in a tar.gz).
struct TextFiles {
    let root: String
    private let reader: ArchiveReader?
    private let members: [String]

    init(_ path: String) throws {
        root = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TextDataError.unreadable(file: path, reason: "no such file or folder")
        }
        if isDirectory.boolValue {
            reader = nil
            let e = FileManager.default.enumerator(atPath: path)
            var m: [String] = []
            while let p = e?.nextObject() as? String { m.append(p) }
            members = m.sorted()
        } else if let r = try? ArchiveReader(path: path) {
            reader = r
            members = try r.entries().filter(\.isFile).map(\.path)
        } else {
            reader = nil
            members = []
        }
    }

    static let limit = 512 << 20

    var isPlainFile: Bool { reader == nil && members.isEmpty }

    /// The first member whose path ends with `suffix` (a whole path component match).
    func member(endingWith suffix: String) -> String? {
        members.first { $0 == suffix || $0.hasSuffix("/" + suffix) }
    }

    func read(_ member: String) throws -> [UInt8] {
        if let reader { return try reader.read(member) }
        if isPlainFile { return try LocalFile.read(root, limit: Self.limit) }
        return try LocalFile.read((root as NSString).appendingPathComponent(member), limit: Self.limit)
    }

    func nested(_ member: String) throws -> ArchiveReader {
        guard let reader else {
            return try ArchiveReader(path: (root as NSString).appendingPathComponent(member))
        }
        return try reader.nestedReader(member)
    }

    func name(_ member: String) -> String { isPlainFile ? root : "\(root):\(member)" }
}

/// The first `count` bytes of a file (empty when it cannot be read).
func filePrefix(_ path: String, count: Int = 4096) -> [UInt8] {
    guard let h = FileHandle(forReadingAtPath: path) else { return [] }
    defer { try? h.close() }
    return [UInt8]((try? h.read(upToCount: count)) ?? Data())
}
