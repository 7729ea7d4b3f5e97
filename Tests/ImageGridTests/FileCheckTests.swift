import Foundation
import KDCore
import KDDatasets
import Testing
@testable import ImageGrid

/// The image plugin's answers to `kd-tool check` on single files (``FileChecking``): photographs, IDX arrays
/// and annotations are decoded as the readers decode them; other files are not claimed.
@Suite struct FileCheckTests {
    let plugin = ImageGridPlugin()

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try Fixtures.temporaryFolder() + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func imagesAreDecoded() throws {
        let image = RGBImage(width: 12, height: 8, channels: 3, repeating: 100)
        let png = try plugin.check(write(try image.encodePNG(), "a.png"))
        #expect(png == FileCheckReport(format: "PNG image", found: ["12×8 pixels, 3 channels (RGB), \(try image.encodePNG().count) bytes"]))
        let jpeg = try image.encodeJPEG()
        let truncated = try #require(plugin.check(write(Array(jpeg.prefix(jpeg.count / 2)), "cut.jpg")))
        #expect(truncated.refused && truncated.problems.count == 1, "\(truncated)")
    }

    @Test func idxArraysAreDecoded() throws {
        let labels = IDX.encode(IDXArray(dimensions: [4], values: [0, 1, 1, 9]))
        let report = try #require(plugin.check(write(try Gzip.compress(labels), "t10k-labels-idx1-ubyte.gz")))
        #expect(!report.refused && report.found.contains("labels: 0: 1, 1: 2, 9: 1"), "\(report)")
        let short = try #require(plugin.check(write(Array(labels.dropLast()), "labels-idx1-ubyte")))
        #expect(short.refused, "\(short)")
    }

    @Test func annotationsListTheirObjects() throws {
        let xml = "<annotation><filename>a.jpg</filename><object><name>cat</name><bndbox><xmin>5</xmin><ymin>5</ymin>"
            + "<xmax>2</xmax><ymax>9</ymax></bndbox></object><object><name>dog</name></object></annotation>"
        let report = try #require(plugin.check(write(Array(xml.utf8), "a.xml")))
        #expect(!report.refused && report.problems.count == 2, "\(report)")
        #expect(report.found.contains("2 objects"), "\(report)")
    }

    @Test func otherFilesAreNotClaimed() throws {
        #expect(plugin.check(try write(Array("hello\n".utf8), "notes.txt")) == nil)
        #expect(plugin.check(try Fixtures.temporaryFolder()) == nil)
        #expect(plugin.check("/no/such/file") == nil)
    }
}
