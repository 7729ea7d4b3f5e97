import Foundation
import ImageGrid
import KDCore
import KDDatasets
import Testing
import KDPluginTesting
import _TestSupport

@Suite struct ImageGridPluginTests {
    @Test func passesTheSharedPluginConformanceTest() throws {
        let dir = try Fixtures.temporaryFolder()
        let archive = dir + "/CUB_200_2011.tgz", junk = dir + "/notes.tgz"
        try Fixtures.cubArchive(at: archive, perClass: 3, size: 48)
        try ArchiveWriter.archive(.tarGzip, files: [("readme.txt", Array("not a dataset".utf8))])
            .withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: junk)) }
        try PluginConformance.check(ImageGridPlugin(), archive: archive, notAnArchive: junk,
                                    options: ["image-size": "32", "grid": "8"])
    }

    @Test(arguments: CNNFamilies.all.map(\.name))
    func familiesBuildWithTheirTapsAtSeveralSizes(_ name: String) throws {
        let family = try ImageGridPlugin().family(name)
        for side in [32, 48] {
            let model = try family.build([side, side, 3], 5, 0.5, 1)
            for tap in family.taps { #expect(model.layerNames.contains(tap), "\(name): no tap \(tap)") }
            #expect(family.taps.first == "fc1")
            let x = randomTensor([2, side, side, 3], seed: 3)
            let y = model.forward(x, model.makeContext())
            #expect(y.shape == [2, 5])
            #expect(model.outputShape(batch: 1, through: try model.layerIndex("fc1")) == [1, CNNFamilies.hiddenWidth],
                    "fc1 must have the same width for every student width, so distillation needs no adapter there")
        }
        #expect(throws: FamilyError.unsupportedInput([16, 16, 3])) { try family.build([16, 16, 3], 5, 1, 1) }
    }

    /// cnn4-s at 64×64: the 4×4 stride-4 stem sees one grid cell of a 16×16 grid per output pixel, and three
    /// conv + pool stages leave 2×2×128 features for fc1 (Docs/ImageAnalyses.md).
    @Test func cnn4PatchifiesOneGridCellPerStemPixel() throws {
        let model = try CNNFamilies.cnn4.build([64, 64, 3], 10, 1, 1)
        #expect(model.outputShape(batch: 1, through: try model.layerIndex("relu1")) == [1, 16, 16, 16])
        #expect(model.outputShape(batch: 1, through: try model.layerIndex("flatten")) == [1, 2 * 2 * 128])
        // A change inside one 4×4 cell moves only the stem pixel of that cell.
        let x = randomTensor([1, 64, 64, 3], seed: 5)
        let ctx = model.makeContext()
        let stem = try model.layerIndex("conv1")
        func values(_ t: Tensor) -> [Float] { Array(UnsafeBufferPointer(start: t.data, count: t.count)) }
        let a = values(model.forward(x, ctx, through: stem))
        var y = values(x)
        y[(4 * 64 + 8) * 3] += 1   // pixel (row 4, column 8): cell (1, 2)
        let b = values(model.forward(Tensor(shape: x.shape, values: y), ctx, through: stem))
        let changed = Set((0..<a.count).filter { a[$0] != b[$0] }.map { $0 / 16 })
        #expect(changed == [1 * 16 + 2])
    }

    /// A smaller student has fewer parameters than the teacher but the same fc1 shape.
    @Test func widthScalesConvolutionsOnly() throws {
        let f = CNNFamilies.vgg(16)
        let teacher = try f.build([32, 32, 3], 10, 1, 1), student = try f.build([32, 32, 3], 10, 0.5, 1)
        #expect(student.parameterCount < teacher.parameterCount / 2)
    }

    @Test func heatMapMarksKnowledgePointsAndTheForegroundOutline() throws {
        let s = 16, g = 4
        let image = RGBImage(width: s, height: s, channels: 3, repeating: 128)
        var mask = [UInt8](repeating: 0, count: s * s)
        for y in 4..<12 { for x in 4..<12 { mask[y * s + x] = 1 } }
        var h = [Float](repeating: -2.5, count: g * g)
        h[5] = -3.5   // a cell on the foreground with low entropy
        // Which cells are knowledge points is decided by KnowledgePoints (Core) and passed in; the picture
        // only draws them.
        let kp = (0..<(g * g)).map { $0 == 5 }
        let picture = HeatMaps.render(image: image, mask: mask, grid: g, panels: [.init(title: "S", entropies: h, knowledgePoints: kp)], scale: 4)
        let png = try picture.encodePNG()
        let back = try RGBImage.decode(bytes: png, name: "heatmap.png")
        #expect(back == picture)
        let cell = s * 4, ox = cell + 6, oy = 12
        func px(_ x: Int, _ y: Int) -> [UInt8] { let i = (y * back.width + x) * 3; return Array(back.pixels[i..<(i + 3)]) }
        // centre of cell 5 (column 1, row 1) in the network panel: the white dot
        #expect(px(ox + Int(1.5 * Double(cell) / 4), oy + Int(1.5 * Double(cell) / 4)) == [255, 255, 255])
        // the fg outline (mask edge at image pixel x = 4) in green, in both panels
        #expect(px(4 * 4 + 1, oy + 8 * 4) == [40, 220, 60] && px(ox + 4 * 4 + 1, oy + 8 * 4) == [40, 220, 60])
        // a high-entropy background cell is darker than the low-entropy knowledge point's cell colour
        let low = px(ox + 1 * 16 + 2, oy + 1 * 16 + 2), high = px(ox + 3 * 16 + 8, oy + 3 * 16 + 8)
        #expect(Int(low[0]) + Int(low[1]) > Int(high[0]) + Int(high[1]))
    }
}

/// `crop-scale` widens the crop about the box: the object then covers fewer grid cells, and the setting is
/// recorded with the dataset's settings.
@Test func cropScaleOverrideWidensTheCrop() throws {
    let dir = try Fixtures.temporaryFolder()
    let archive = dir + "/CUB_200_2011.tgz"
    try Fixtures.cubArchive(at: archive, perClass: 3, size: 48)
    let plugin = ImageGridPlugin()
    let tight = try plugin.open(archive, options: ["image-size": "32", "grid": "8"])
    let wide = try plugin.open(archive, options: ["image-size": "32", "grid": "8", "crop-scale": "1.5"])
    let fgTight = try tight.sample(.train, 0).foreground.filter { $0 }.count
    let fgWide = try wide.sample(.train, 0).foreground.filter { $0 }.count
    #expect(fgWide < fgTight, "fg cells: tight \(fgTight), wide \(fgWide)")
    #expect(wide.settings["crop-scale"] == "1.5" && tight.settings["crop-scale"] == "format" && tight.settings["format-crop-scale"] == "1")
    #expect(throws: (any Error).self) { try plugin.open(archive, options: ["crop-scale": "0.5"]) }
}
