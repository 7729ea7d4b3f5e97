// Errors raised while reading or writing archives and compressed files.
//
// How to use: catch `ArchiveError` around any `ArchiveReader`, `ArchiveWriter`, `Gzip` or
// `LocalFile` call; `description` is a complete sentence for the user naming the archive, the member
// and what to do. Nested archives are named "outer.deb:data.tar.xz".

import KDCore

/// A refusal to read (or write) an archive, naming the archive, the member and the reason.
public enum ArchiveError: Error, Equatable, CustomStringConvertible {
    /// The file itself cannot be opened or read (missing, permissions, I/O error).
    case unreadable(archive: String, reason: String)
    /// The content is not a supported archive or compressed stream; `found` describes what it is.
    case notAnArchive(archive: String, found: String)
    /// The data is truncated or damaged. `member` is the member being read, or a description of the
    /// position ("the entry after images/001.jpg") when a header could not be read.
    case corrupt(archive: String, member: String, reason: String)
    /// A member's decompressed size is over ``ArchiveLimits/maxMemberBytes``.
    case memberTooLarge(archive: String, member: String, size: Int, limit: Int)
    /// The members' total decompressed size is over ``ArchiveLimits/maxTotalBytes``.
    case archiveTooLarge(archive: String, limit: Int)
    /// The members kept in memory at once from one archive (`what`) add up to more than
    /// ``ArchiveLimits/maxHeldBytes``.
    case tooMuchHeld(archive: String, what: String, limit: Int)
    /// The archive holds more entries than ``ArchiveLimits/maxEntries``.
    case tooManyEntries(archive: String, limit: Int)
    /// A member path with a `..` component or a leading `/`.
    case unsafePath(archive: String, member: String)
    /// The member is a symbolic or hard link; links are listed but never followed.
    case link(archive: String, member: String, target: String)
    /// The member is a directory or a special file, not a regular file.
    case notAFile(archive: String, member: String)
    /// No member has this path.
    case missingMember(archive: String, member: String, memberCount: Int)
    /// Writing an archive failed.
    case writeFailed(archive: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(archive, reason):
            return "\(archive): cannot read the file: \(clause(reason)). Check the path and its permissions."
        case let .notAnArchive(archive, found):
            return "\(archive): expected a tar, zip, ar (.deb) archive or a gzip/xz/bzip2/zstd stream, found \(found). "
                + "The format is read from the content, not the extension: check that this is the file you downloaded."
        case let .corrupt(archive, member, reason):
            return "\(archive): \(member): \(clause(reason)). The archive is truncated or damaged; "
                + "the download may be incomplete: re-download it."
        case let .memberTooLarge(archive, member, size, limit):
            return "\(archive): member \(member) decompresses to \(size) bytes or more, over the limit of \(limit) bytes. "
                + "If the archive is genuine, raise ArchiveLimits.maxMemberBytes."
        case let .archiveTooLarge(archive, limit):
            return "\(archive): the members decompress to more than \(limit) bytes in total. "
                + "If the archive is genuine, raise ArchiveLimits.maxTotalBytes."
        case let .tooMuchHeld(archive, what, limit):
            return "\(archive): the \(what) to keep in memory add up to more than \(limit) bytes; "
                + "no supported dataset needs that much. If the archive is genuine, raise ArchiveLimits.maxHeldBytes."
        case let .tooManyEntries(archive, limit):
            return "\(archive): more than \(limit) entries. If the archive is genuine, raise ArchiveLimits.maxEntries."
        case let .unsafePath(archive, member):
            return "\(archive): member path \"\(member)\" has a '..' component or a leading '/'; "
                + "such archives are refused because they could write outside their folder."
        case let .link(archive, member, target):
            return "\(archive): member \(member) is a link to \"\(target)\"; links are not followed. "
                + "Read the target member instead."
        case let .notAFile(archive, member):
            return "\(archive): member \(member) is a directory or special file, not a regular file."
        case let .missingMember(archive, member, count):
            return "\(archive): no member named \"\(member)\" among its \(count) entries. "
                + "Is this the right archive, and was it unpacked and re-packed with a different top folder?"
        case let .writeFailed(archive, reason):
            return "\(archive): cannot write the archive: \(clause(reason))."
        }
    }
}

/// `text` without trailing full stops, to be embedded in a sentence that adds its own.
func clause(_ text: String) -> String { FileNumbers.clause(text) }
