import Foundation
import KDCore
import Testing
@testable import KDDatasets

/// Hostile and damaged inputs at the dataset layer: each test feeds one class of input that used to
/// crash, hang, take quadratic time or pass unnoticed.
@Suite struct HardeningTests {
    // MARK: Pickles

    /// PROTO 2, `count` × (value, TUPLE1)…, STOP: a chain of one-element tuples `count` deep.
    private func nestedTuples(_ count: Int) -> [UInt8] {
        [0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: count) + [0x2E]
    }

    /// A million nested one-element tuples (about 1 KB gzipped) is refused by the nesting limit,
    /// instead of overflowing the stack when the chain is released.
    @Test func deeplyNestedPicklesAreRefused() throws {
        let pickle = try Gzip.compress(nestedTuples(1_000_000))
        #expect(pickle.count < 4_000)
        do {
            _ = try NumpyPickle.parse(bytes: pickle, name: "deep.pkl.gz")
            Issue.record("a million nested tuples were accepted")
        } catch let error as DataFileError {
            #expect("\(error)".contains("nested deeper than \(PickleMachine.maxNesting)"))
        }
        // A shallow chain is fine as far as nesting goes (it is still not an array).
        #expect(throws: DataFileError.badHeader(file: "t", expected: "a pickled numpy array", found: "a pickled tuple")) {
            _ = try NumpyPickle.parse(bytes: nestedTuples(50), name: "t")
        }
    }

    /// Appending to a memoised list n times costs O(n), not O(n²) copies of the list: 300,000
    /// appends finish at once (they took minutes when every append copied the list).
    @Test func appendsToAMemoisedListAreLinear() throws {
        let n = 300_000
        var pickle: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00]                        // EMPTY_LIST, BINPUT 0
        for _ in 0..<n { pickle += [0x68, 0x00, 0x4E, 0x61, 0x30] }                // BINGET 0, NONE, APPEND, POP
        pickle += [0x2E]
        let start = Date()
        #expect(throws: DataFileError.badHeader(file: "l", expected: "a pickled numpy array", found: "a pickled list")) {
            _ = try NumpyPickle.parse(bytes: pickle, name: "l")
        }
        let seconds = Date().timeIntervalSince(start)
        print("\(n) appends to a memoised list: \(seconds) s")
        #expect(seconds < 5)
        // Lists nested through the memo in any order (here a cycle) are released without recursion.
        let cycle: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E]   // L = []; L.append(L)
        #expect(throws: DataFileError.self) { _ = try NumpyPickle.parse(bytes: cycle, name: "cycle") }
    }

    // MARK: XML

    @Test func xmlThatIsNotUTF8IsRefusedWithItsLine() throws {
        let bytes = Array("<annotation>\n<name>caf".utf8) + [0xE9] + Array("</name>\n</annotation>\n".utf8)
        do {
            _ = try XML.parse(bytes: bytes, name: "a.xml")
            Issue.record("Latin-1 bytes were accepted as UTF-8")
        } catch let error as XMLError {
            guard case let .malformed(_, line, reason) = error else { Issue.record("\(error)"); return }
            #expect(line == 2 && reason.contains("not valid UTF-8"))
        }
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            #expect(XML.firstInvalidUTF8(Array("<a>".utf8) + bad + Array("</a>".utf8)) == 3)
        }
        #expect(XML.firstInvalidUTF8(Array("<a>é€😀</a>".utf8)) == nil)
        // A huge value is quoted as an excerpt, once.
        let long = String(repeating: "9", count: 1 << 20)
        let document = try XML.parse("<a><x>\(long)x</x></a>", name: "b.xml")
        do { _ = try document.double("x"); Issue.record("accepted") } catch {
            #expect("\(error)".count < 300)
        }
    }

    // MARK: Images

    @Test func aPNGWithADamagedSignatureIsCalledThat() throws {
        var png = try RGBImage(width: 4, height: 4, channels: 1, repeating: 7).encodePNG()
        png.remove(at: 4)   // "\r\n" → "\n", as a text-mode transfer does
        do {
            _ = try RGBImage.decode(bytes: png, name: "m.png")
            Issue.record("accepted")
        } catch let error as ImageError {
            #expect(error.description.contains("signature is damaged"))
            #expect(!error.description.contains("found a PNG image"))
        }
        #expect(FormatSniffer.describe(png) == "a PNG image with a damaged signature")
    }

    /// A progressive JPEG with more scans than the cap is refused; libjpeg's own progressive script
    /// (10 scans) still decodes.
    @Test func jpegScansAreCapped() throws {
        var g = SystemRandomNumberGenerator()
        let pixels = (0..<(32 * 32)).map { _ in UInt8.random(in: 0...255, using: &g) }
        let usual = try JPEGEncoder.encode(samples: pixels, width: 32, height: 32, channels: 1, quality: 90, progression: 1)
        #expect(try RGBImage.decode(bytes: usual, name: "p.jpg").width == 32)
        let many = try JPEGEncoder.encode(samples: pixels, width: 32, height: 32, channels: 1, quality: 90, progression: 2)
        do {
            _ = try RGBImage.decode(bytes: many, name: "many.jpg")
            Issue.record("a 127-scan JPEG was decoded")
        } catch let error as ImageError {
            #expect(error.description.contains("more than 100 scans"))
        }
    }

    // MARK: gzip

    /// libarchive does not check a gzip member's trailer; the reader does: a wrong CRC-32 or length
    /// is an error naming the member, for single files and for .tar.gz alike.
    @Test func gzipTrailersAreChecked() throws {
        let data = Array((0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let good = try Gzip.compress(data)
        #expect(try Gzip.decompress(bytes: good, name: "x.gz") == data)
        for (field, offset) in [("CRC-32", good.count - 8), ("length", good.count - 4)] {
            var bad = good
            bad[offset] ^= 0x01
            #expect(throws: ArchiveError.self, "\(field)") { _ = try Gzip.decompress(bytes: bad, name: "x.gz") }
            do { _ = try Gzip.decompress(bytes: bad, name: "x.gz") } catch {
                #expect("\(error)".contains("incorrect"), "\(field): \(error)")
            }
        }
        // Two members back to back (cat a.gz b.gz) are one stream; zero padding after them is fine.
        let two = try Gzip.compress(Array(data.prefix(100))) + (try Gzip.compress(Array(data.suffix(200)))) + [0, 0, 0]
        #expect(try Gzip.decompress(bytes: two, name: "two.gz") == Array(data.prefix(100)) + Array(data.suffix(200)))
        #expect(throws: ArchiveError.self) { _ = try Gzip.decompress(bytes: good + [0x41], name: "junk.gz") }

        var tgz = try ArchiveWriter.archive(.tarGzip, files: [("a.txt", Array("hello".utf8)), ("b.bin", data)])
        tgz[tgz.count - 6] ^= 0x40   // the CRC-32 of the (one) gzip member
        let reader = try ArchiveReader(bytes: tgz, name: "d.tgz")
        #expect(throws: ArchiveError.self) { try reader.forEachEntry { m in _ = try m.read() } }
        #expect(ArchiveReader.diagnose(path: writeTemporary(tgz, "d.tgz")) != nil)
    }

    // MARK: Diagnosis and files

    private func writeTemporary(_ bytes: [UInt8], _ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kd-hard-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// What a file that is not a readable archive is, in words: empty, truncated, another kind.
    @Test func diagnosisSaysWhatIsWrong() throws {
        let tgz = try ArchiveWriter.archive(.tarGzip, files: [("a/b.txt", [UInt8](repeating: 65, count: 100_000)),
                                                             ("a/c.txt", Array("x".utf8))])
        #expect(ArchiveReader.diagnose(path: writeTemporary(tgz, "ok.tgz")) == nil)
        let empty = ArchiveReader.diagnose(path: writeTemporary([], "empty.tgz"))
        #expect("\(empty!)".contains("an empty file"))
        let truncated = ArchiveReader.diagnose(path: writeTemporary(Array(tgz.prefix(tgz.count / 2)), "half.tgz"))
        #expect(truncated != nil && "\(truncated!)".contains("truncated"))
        let html = ArchiveReader.diagnose(path: writeTemporary(Array("<html><body>login</body></html>".utf8), "x.tgz"))
        #expect("\(html!)".contains("HTML"))
        #expect("\(ArchiveReader.diagnose(path: "/nonexistent/kd.tgz")!)".contains("No such file"))
    }

    /// A FIFO where a file should be is refused at once (opening it used to wait for a writer).
    @Test func aFIFOIsRefusedNotWaitedOn() throws {
        let path = writeTemporary([], "placeholder") + ".fifo"
        #expect(mkfifo(path, 0o600) == 0)
        do {
            _ = try LocalFile.read(path, limit: 100)
            Issue.record("a FIFO was read")
        } catch let error as ArchiveError {
            #expect(error.description.contains("FIFO"))
        }
    }

    /// Messages built from clauses that end in a full stop never end in "..".
    @Test func messagesDoNotEndInTwoFullStops() {
        let e = ArchiveError.corrupt(archive: "a.tgz", member: "m", reason: "bad data.")
        #expect(!e.description.contains(".."))
        #expect(FileNumbersExcerpt.check())
    }
}

/// FileNumbers lives in KDCore; the dataset layer relies on its excerpt and clause helpers.
enum FileNumbersExcerpt {
    static func check() -> Bool {
        let long = String(repeating: "x", count: 4 << 20)
        let e = FileNumbers.excerpt(long)
        return e.count < 120 && e.contains("…") && FileNumbers.excerpt("short") == "short"
            && FileNumbers.clause("ends.") == "ends" && FileNumbers.int(exactly: 1e20, in: 0...Int.max) == nil
            && FileNumbers.int(exactly: Double.nan, in: 0...10) == nil && FileNumbers.int(exactly: 3.0, in: 0...10) == 3
            && FileNumbers.clampedInt(1e300, in: 0...100) == 100 && FileNumbers.product([1 << 62, 4]) == nil
    }
}
