import Foundation
@testable import KDDatasets
import KDCore
import Testing

/// A fresh folder under the system temporary directory, removed by the caller with `remove()`.
struct TemporaryFolder {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "kd-datasets-tests-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Incompressible bytes from a seed.
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
}

/// The CUB-200-2011 layout, in miniature.
let cubLikeFiles: [(path: String, bytes: [UInt8])] = [
    ("CUB_200_2011/images.txt", Array("1 001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg\n".utf8)),
    ("CUB_200_2011/classes.txt", Array("1 001.Black_footed_Albatross\n".utf8)),
    ("CUB_200_2011/images/001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg", randomBytes(70_000, seed: 1)),
    ("CUB_200_2011/empty.txt", []),
]

func expectArchiveError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation,
                        _ check: (ArchiveError) -> Bool) {
    do {
        try body()
        Issue.record("expected an ArchiveError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ArchiveError {
        #expect(check(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an ArchiveError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ArchiveTests {
    @Test func tarGzAndZipRoundTripThroughFiles() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        for (format, expected, file) in [(ArchiveWriter.Format.tarGzip, ArchiveFormat.gzip(tar: true), "cub.tgz"),
                                         (.zip, .zip, "cub.zip")] {
            let path = folder.file(file)
            let writer = try ArchiveWriter(path: path, format: format)
            try writer.addDirectory("CUB_200_2011/images")
            for f in cubLikeFiles { try writer.addFile(f.path, bytes: f.bytes) }
            #expect(!FileManager.default.fileExists(atPath: path), "the archive appeared before finish()")
            try writer.finish()
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains("partial") }.isEmpty)

            let reader = try ArchiveReader(path: path)
            #expect(reader.format == expected)
            let entries = try reader.entries()
            #expect(entries.map(\.path) == ["CUB_200_2011/images"] + cubLikeFiles.map(\.path))
            #expect(entries[0].kind == .directory)
            #expect(entries.dropFirst().map(\.size) == cubLikeFiles.map { $0.bytes.count })
            // By name, out of order (reopens) and in order (one stream).
            for f in cubLikeFiles.reversed() + cubLikeFiles { #expect(try reader.read(f.path) == f.bytes, "\(file): \(f.path)") }
            #expect(try reader.read("./CUB_200_2011/classes.txt") == cubLikeFiles[1].bytes)
            // Streaming.
            var streamed: [String: [UInt8]] = [:]
            try reader.forEachEntry { member in if member.entry.isFile { streamed[member.entry.path] = try member.read() } }
            for f in cubLikeFiles { #expect(streamed[f.path] == f.bytes) }
            expectArchiveError({ _ = try reader.read("CUB_200_2011/missing.txt") }) {
                if case .missingMember(_, "CUB_200_2011/missing.txt", 5) = $0 { return true } else { return false }
            }
            expectArchiveError({ _ = try reader.read("CUB_200_2011/images") }) {
                if case .notAFile = $0 { return true } else { return false }
            }
        }
    }

    @Test func everyWriterFormatIsDetectedAndReadBackFromMemory() throws {
        let expected: [ArchiveWriter.Format: ArchiveFormat] = [.tar: .tar, .tarGzip: .gzip(tar: true),
                                                               .tarXz: .xz(tar: true), .zip: .zip, .ar: .ar]
        let files = [("debian-binary", Array("2.0\n".utf8)), ("data.bin", randomBytes(5000, seed: 2))]
        for format in ArchiveWriter.Format.allCases {
            let bytes = try ArchiveWriter.archive(format, files: files)
            let reader = try ArchiveReader(bytes: bytes, name: "memory.\(format)")
            #expect(reader.format == expected[format], "\(format)")
            for (path, content) in files { #expect(try reader.read(path) == content, "\(format) \(path)") }
        }
    }

    @Test func nestedDebLikeArchiveReadsInPlace() throws {
        // .deb = ar { debian-binary, control.tar.xz, data.tar.xz { usr/share/x.sh3f = zip { a.obj } } }
        let obj = Array("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n".utf8)
        let sh3f = try ArchiveWriter.archive(.zip, files: [("a.obj", obj)])
        let data = try ArchiveWriter.archive(.tarXz, files: [("./usr/share/sweethome3d/furniture/x.sh3f", sh3f)])
        let deb = try ArchiveWriter.archive(.ar, files: [("debian-binary", Array("2.0\n".utf8)),
                                                        ("control.tar.xz", try ArchiveWriter.archive(.tarXz, files: [])),
                                                        ("data.tar.xz", data)])
        let reader = try ArchiveReader(bytes: deb, name: "furniture.deb")
        let inner = try reader.nestedReader("data.tar.xz").nestedReader("usr/share/sweethome3d/furniture/x.sh3f")
        #expect(inner.name == "furniture.deb:data.tar.xz:usr/share/sweethome3d/furniture/x.sh3f")
        #expect(inner.format == .zip)
        #expect(try inner.read("a.obj") == obj)
    }

    @Test func dotDotAndAbsolutePathsAreRefused() throws {
        #expect(throws: ArchiveError.self) { _ = try ArchiveWriter.archive(.tar, files: [("../evil.txt", [1])]) }
        for format in [ArchiveWriter.Format.tarGzip, .zip] {
            for bad in ["../evil.txt", "data/../../evil.txt", "/etc/cron.d/evil"] {
                let writer = try ArchiveWriter(format: format)
                writer.allowUnsafePaths = true
                try writer.addFile("fine.txt", bytes: [1, 2])
                try writer.addFile(bad, bytes: [3])
                try writer.finish()
                let reader = try ArchiveReader(bytes: writer.bytes, name: "hostile")
                expectArchiveError({ _ = try reader.entries() }) {
                    if case .unsafePath(_, let member) = $0 { return member.contains("evil") } else { return false }
                }
            }
        }
        #expect(ArchiveReader.isUnsafe("a\\..\\b"))
        #expect(!ArchiveReader.isUnsafe("a/..b/c..") && !ArchiveReader.isUnsafe("./a"))
    }

    @Test func linksAreListedButNotFollowed() throws {
        for format in [ArchiveWriter.Format.tar, .zip] {
            let writer = try ArchiveWriter(format: format)
            try writer.addFile("real.txt", bytes: Array("secret".utf8))
            try writer.addSymlink("link.txt", target: "/etc/passwd")
            if format == .tar { try writer.addHardlink("hard.txt", target: "real.txt") }
            try writer.finish()
            let reader = try ArchiveReader(bytes: writer.bytes, name: "links.\(format)")
            let index = try reader.index()
            #expect(index["link.txt"]?.kind == .symlink(target: "/etc/passwd"), "\(format): \(String(describing: index["link.txt"]))")
            expectArchiveError({ _ = try reader.read("link.txt") }) {
                if case .link(_, "link.txt", "/etc/passwd") = $0 { return true } else { return false }
            }
            if format == .tar {
                #expect(index["hard.txt"]?.kind == .hardlink(target: "real.txt"))
                expectArchiveError({ _ = try reader.read("hard.txt") }) {
                    if case .link(_, "hard.txt", "real.txt") = $0 { return true } else { return false }
                }
            }
            var streamedError: Error?
            try reader.forEachEntry { member in
                if member.entry.path == "link.txt" { do { _ = try member.read() } catch { streamedError = error } }
            }
            #expect(streamedError is ArchiveError)
            #expect(try reader.read("real.txt") == Array("secret".utf8))
        }
    }

    @Test func truncatedTgzNamesTheMemberAndSaysToRedownload() throws {
        let big = randomBytes(200_000, seed: 3)
        let tgz = try ArchiveWriter.archive(.tarGzip, files: [("small.txt", Array("hello".utf8)), ("dir/big.bin", big)])
        let truncated = Array(tgz.prefix(tgz.count * 6 / 10))
        let reader = try ArchiveReader(bytes: truncated, name: "CUB_200_2011.tgz")
        #expect(reader.format == .gzip(tar: true))
        var first: [UInt8] = []
        for attempt in 0..<3 {
            do {
                switch attempt {
                case 0: try reader.forEachEntry { member in
                        let bytes = try member.read()
                        if member.entry.path == "small.txt" { first = bytes }
                    }
                case 1: try reader.forEachEntry { _ in }            // skipping over the damage
                default: _ = try reader.read("small.txt")           // the index needs a full pass
                }
                Issue.record("a truncated member was read without error")
            } catch let error as ArchiveError {
                guard case .corrupt(let archive, let member, _) = error else { Issue.record("\(error)"); continue }
                #expect(archive == "CUB_200_2011.tgz" && member == "dir/big.bin")
                #expect(error.description.contains("re-download"), "\(error)")
                print("truncated tgz, attempt \(attempt):", error)
            }
        }
        #expect(first == Array("hello".utf8), "members before the damage stream normally")
        // Truncated inside the header of the second member: the error names the position.
        let cut = Array(tgz.prefix(40))
        expectArchiveError({ _ = try ArchiveReader(bytes: cut, name: "cut.tgz").entries() }) {
            if case .corrupt = $0 { return true } else { return false }
        }
    }

    @Test func truncatedAndDamagedZipsAreErrors() throws {
        let zip = try ArchiveWriter.archive(.zip, files: [("a.bin", randomBytes(20_000, seed: 4)), ("b.txt", Array("b".utf8))])
        expectArchiveError({ _ = try ArchiveReader(bytes: Array(zip.prefix(zip.count - 30)), name: "cut.zip").entries() }) {
            if case .corrupt(_, let member, _) = $0 { return member.contains("zip directory") } else { return false }
        }
        var damaged = zip
        for i in 200..<260 { damaged[i] ^= 0x5A }   // inside a.bin's stored/deflated data
        expectArchiveError({ _ = try ArchiveReader(bytes: damaged, name: "damaged.zip").read("a.bin") }) {
            if case .corrupt(_, "a.bin", let reason) = $0 { print("damaged zip:", reason); return true } else { return false }
        }
    }

    @Test func formatComesFromContentNotExtension() throws {
        let folder = TemporaryFolder()
        defer { folder.remove() }
        let zip = try ArchiveWriter.archive(.zip, files: [("x.txt", [42])])
        let path = folder.write("looks-like.tgz", zip)
        #expect(try ArchiveReader.detectFormat(path: path) == .zip)
        #expect(try ArchiveReader(path: path).read("x.txt") == [42])

        let html = folder.write("CUB_200_2011.tgz", Array("<!DOCTYPE html><html><body>Access denied</body></html>".utf8))
        expectArchiveError({ _ = try ArchiveReader(path: html) }) {
            if case .notAnArchive(_, let found) = $0 { return found.contains("HTML") } else { return false }
        }
        expectArchiveError({ _ = try ArchiveReader(path: folder.file("absent.tgz")) }) {
            if case .unreadable = $0 { return true } else { return false }
        }
        let gz = folder.write("plain.tgz", try Gzip.compress(Array("not a tar".utf8)))
        #expect(try ArchiveReader.detectFormat(path: gz) == .gzip(tar: false))
        #expect(try ArchiveReader(path: gz).read("data") == Array("not a tar".utf8), "a stream without a known suffix holds \"data\"")
    }

    @Test func gzipSingleFilesAndTheirLimits() throws {
        let payload = randomBytes(100_000, seed: 5)
        let gz = try Gzip.compress(payload)
        #expect(Gzip.isGzip(gz))
        #expect(try Gzip.decompress(bytes: gz, name: "x.gz") == payload)
        #expect(try Gzip.decompressIfCompressed(bytes: payload, name: "x") == payload)
        let reader = try ArchiveReader(bytes: gz, name: "train-images-idx3-ubyte.gz")
        #expect(try reader.entries().map(\.path) == ["train-images-idx3-ubyte"])

        // A bomb: 20 MB of zeros compress to ~20 KB; a 1 MiB limit stops it without inflating it all.
        let bomb = try Gzip.compress([UInt8](repeating: 0, count: 20_000_000))
        #expect(bomb.count < 100_000)
        expectArchiveError({ _ = try Gzip.decompress(bytes: bomb, name: "bomb.gz", limit: 1 << 20) }) {
            if case .memberTooLarge(_, _, _, 1 << 20) = $0 { return true } else { return false }
        }
        expectArchiveError({ _ = try Gzip.decompress(bytes: Array(gz.prefix(gz.count / 2)), name: "half.gz") }) {
            if case .corrupt = $0 { return true } else { return false }
        }
        expectArchiveError({ _ = try Gzip.decompress(bytes: payload, name: "raw.gz") }) {
            if case .notAnArchive = $0 { return true } else { return false }
        }
    }

    @Test func memberEntryAndTotalLimits() throws {
        let tar = try ArchiveWriter.archive(.tar, files: (0..<5).map { ("f\($0)", randomBytes(3000, seed: UInt64($0))) })
        let small = ArchiveLimits(maxMemberBytes: 2000)
        expectArchiveError({ _ = try ArchiveReader(bytes: tar, name: "t", limits: small).read("f1") }) {
            if case .memberTooLarge(_, "f1", 3000, 2000) = $0 { return true } else { return false }
        }
        expectArchiveError({ _ = try ArchiveReader(bytes: tar, name: "t", limits: ArchiveLimits(maxEntries: 3)).entries() }) {
            if case .tooManyEntries(_, 3) = $0 { return true } else { return false }
        }
        expectArchiveError({ _ = try ArchiveReader(bytes: tar, name: "t", limits: ArchiveLimits(maxTotalBytes: 10_000)).entries() }) {
            if case .archiveTooLarge = $0 { return true } else { return false }
        }
        #expect(try ArchiveReader(bytes: tar, name: "t").entries().count == 5)
    }

    @Test func nonASCIIMemberNamesSurviveTheRoundTrip() throws {
        for format in [ArchiveWriter.Format.tarGzip, .zip] {
            let bytes = try ArchiveWriter.archive(format, files: [("clipart/oiseaux/mésange bleue.png", [7, 8])])
            let reader = try ArchiveReader(bytes: bytes, name: "utf8.\(format)")
            #expect(try reader.entries().map(\.path) == ["clipart/oiseaux/mésange bleue.png"], "\(format)")
            #expect(try reader.read("clipart/oiseaux/mésange bleue.png") == [7, 8])
        }
        // An old zip whose names are Latin-1 bytes without the UTF-8 flag: the entry is kept, its name
        // decoded with replacement characters, and it stays readable.
        var zip = try ArchiveWriter.archive(.zip, files: [("m\u{e9}sange.txt", Array("bird".utf8)), ("plain.txt", [1])])
        let utf8Name = Array("m\u{e9}sange".utf8), latin1Name: [UInt8] = [0x6D, 0xE9, 0xE9, 0x73, 0x61, 0x6E, 0x67, 0x65]
        var patched = 0
        for i in 0..<(zip.count - utf8Name.count) where Array(zip[i..<(i + utf8Name.count)]) == utf8Name {
            zip.replaceSubrange(i..<(i + utf8Name.count), with: latin1Name)
            patched += 1
        }
        for i in 0..<(zip.count - 4) where zip[i] == 0x50 && zip[i + 1] == 0x4B {
            if zip[i + 2] == 3 && zip[i + 3] == 4 { zip[i + 7] &= ~0x08 }    // local header: clear the UTF-8 flag
            if zip[i + 2] == 1 && zip[i + 3] == 2 { zip[i + 9] &= ~0x08 }    // central directory entry
        }
        #expect(patched == 2)
        let latin = try ArchiveReader(bytes: zip, name: "latin1.zip")
        let entries = try latin.entries()
        #expect(entries.map(\.path) == ["m\u{FFFD}\u{FFFD}sange.txt", "plain.txt"], "\(entries)")
        #expect(try latin.read(entries[0]) == Array("bird".utf8))
    }
}

/// A .tgz carries no time stamp (gzip MTIME = 0, RFC 1952), so the same files give the same bytes at any time.
@Test func tarGzipHasNoTimeStamp() throws {
    let bytes = try ArchiveWriter.archive(.tarGzip, files: [("a.txt", Array("hello".utf8))])
    #expect(Array(bytes[0..<2]) == [0x1F, 0x8B])
    #expect(Array(bytes[4..<8]) == [0, 0, 0, 0], "MTIME \(Array(bytes[4..<8]))")
}
