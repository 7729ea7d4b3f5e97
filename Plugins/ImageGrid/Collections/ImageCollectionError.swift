// Collection-level refusals: the file as a whole cannot be used. Bad individual records are not
// errors; they are reported in `ImageDataset.skipped`.
import Foundation
import KDCore
import KDDatasets

/// Why an image collection could not be opened, naming the file (and member), what was expected,
/// what was found and what to do.
public enum ImageCollectionError: Error, Equatable, CustomStringConvertible {
    /// The path cannot be read, or is not an archive at all.
    case unreadable(path: String, reason: String)
    /// An archive (or folder) of no supported collection; `found` describes its content.
    case unrecognised(path: String, found: String)
    /// A metadata member the format needs is absent.
    case missingMetadata(path: String, format: String, member: String, hint: String)
    /// A metadata member could not be parsed.
    case badMetadata(path: String, member: String, line: Int?, expected: String, found: String)
    /// The archive is damaged where the metadata are read.
    case damaged(path: String, reason: String)
    /// The separate mask archive (`masks:`) is not what the format needs.
    case badMaskArchive(path: String, expected: String, found: String)
    /// `classes` names a class the collection does not have.
    case unknownClass(path: String, name: String, known: [String])
    /// `classes` names a class with no usable record.
    case emptyClass(path: String, name: String)
    /// No record survived (every one was skipped, or the collection lists none).
    case nothingLeft(path: String, skipped: Int, examples: [String])
    /// An option value that cannot work.
    case badOption(name: String, value: String, expected: String)
    /// A sample index outside the split.
    case noSample(path: String, split: String, index: Int, count: Int)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read it as an image collection: \(FileNumbers.clause(reason))."
        case let .unrecognised(path, found):
            return "\(path): expected one of the image collections \(ImageCollections.formatNames.joined(separator: ", ")) "
                + "(recognised by the members present, not the file name), found \(FileNumbers.clause(found)). "
                + "Check that this is the archive (or Fashion-MNIST folder) you meant."
        case let .missingMetadata(path, format, member, hint):
            return "\(path): this looks like \(format) but has no member \(member). \(hint)"
        case let .badMetadata(path, member, line, expected, found):
            let at = line.map { " line \($0)" } ?? ""
            return "\(path): \(member)\(at): expected \(expected), found \(FileNumbers.clause(found)). The metadata file is damaged or was edited: "
                + "re-download the archive."
        case let .damaged(path, reason):
            return "\(path): the archive is damaged where its metadata are stored: \(FileNumbers.clause(reason)). Re-download it."
        case let .badMaskArchive(path, expected, found):
            return "\(path) (given as masks): expected \(expected), found \(FileNumbers.clause(found)). "
                + "Pass CUB's segmentations.tgz, or leave masks out to use the boxes."
        case let .unknownClass(path, name, known):
            let shown = known.prefix(12).joined(separator: ", ") + (known.count > 12 ? ", … (\(known.count) in all)" : "")
            return "\(path): no class named '\(name)'. Its classes: \(shown)."
        case let .emptyClass(path, name):
            return "\(path): class '\(name)' has no usable image (none listed, or every one was skipped). "
                + "Drop it from classes, or check the archive."
        case let .nothingLeft(path, skipped, examples):
            let why = examples.isEmpty ? "" : " For example: " + examples.map { FileNumbers.clause($0) }.joined(separator: "; ") + "."
            return "\(path): no usable record is left (\(skipped) skipped).\(why) Check the archive and the options "
                + "(classes, max-per-split)."
        case let .badOption(name, value, expected):
            return "option \(name)=\(value) is not valid: expected \(expected)."
        case let .noSample(path, split, index, count):
            return "\(path): no \(split) sample \(index): the split has \(count) (indices 0..<\(count))."
        }
    }
}

/// What went wrong inside an archive, without the archive's name and advice (the caller adds them).
func archiveReason(_ error: Error) -> String {
    if case let ArchiveError.corrupt(_, member, reason) = error { return "\(member): \(reason)" }
    return shortReason(error)
}

/// A short reason for a record-level failure (the archive and member are reported beside it).
func shortReason(_ error: Error) -> String {
    switch error {
    case let e as ImageError:
        switch e {
        case let .notAnImage(_, found): return "not a JPEG or PNG image: \(found)"
        case let .corrupt(_, format, reason): return "damaged or truncated \(format): \(reason)"
        case let .tooLarge(_, w, h, limit): return "the header announces \(w)×\(h) pixels, over the limit of \(limit)"
        case let .notPalette(_, reason): return "expected a palette PNG: \(reason)"
        case let .badPaletteIndex(_, reason): return "invalid palette index: \(reason)"
        case .outOfMemory: return "out of memory while decoding"
        case let .encodingFailed(format, reason): return "cannot encode \(format): \(reason)"
        }
    case let e as ArchiveError:
        switch e {
        case let .corrupt(_, _, reason): return "damaged or truncated data: \(reason)"
        case let .memberTooLarge(_, _, size, limit): return "decompresses to \(size) bytes or more, over the limit of \(limit)"
        case let .link(_, _, target): return "a link to \(target), not followed"
        case .notAFile: return "a directory or special file, not an image"
        default: return e.description
        }
    default:
        return String(describing: error)
    }
}
