import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

/// The rules of KDCore's `DatasetSource`, on one small archive of every format.
@Suite struct DatasetSourceRulesTests {
    @Test func everyFormatFollowsTheRules() throws {
        let dir = try Fixtures.temporaryFolder()
        let fashion = dir + "/fashion"
        try FileManager.default.createDirectory(atPath: fashion, withIntermediateDirectories: true)
        for f in try Fixtures.fashionMNISTFiles(train: 3, test: 2) { try Data(f.bytes).write(to: URL(fileURLWithPath: fashion + "/" + f.name)) }
        try Fixtures.cub(classes: ["A", "B"], perClass: 3, size: 32).archive.write(to: dir + "/cub.tgz")
        try Fixtures.voc().archive.write(to: dir + "/voc.tar", format: .tar)
        try Fixtures.ilsvrc().write(to: dir + "/det.tgz")
        try Fixtures.tinyImageNet().write(to: dir + "/tiny.zip", format: .zip)
        try Fixtures.animalMNISTWheel().write(to: dir + "/animal.whl", format: .zip)
        let expected = ["cub.tgz": "CUB-200-2011", "voc.tar": "Pascal VOC 2012", "det.tgz": "ILSVRC DET", "tiny.zip": "Tiny-ImageNet",
                        "fashion": "Fashion-MNIST", "animal.whl": "Animal-MNIST"]
        var options = ImageOptions()
        options.imageSize = 20
        options.grid = 6   // uneven cells: 3 or 4 pixels
        for (file, format) in expected.sorted(by: { $0.key < $1.key }) {
            let path = dir + "/" + file
            #expect(recogniseImageCollection(path) == format)
            let data: DatasetSource = try openImageCollection(path, options: options)
            #expect(data.sampleShape == [20, 20, 3] && data.settings["format"] == format && !data.name.isEmpty)
            #expect(data.count(.train) > 0 && data.count(.test) > 0, "\(format)")
            for split in Split.allCases {
                for i in 0..<data.count(split) {
                    let s = try data.sample(split, i)
                    #expect(s.input.shape == [20, 20, 3] && s.units.variableCount == 1200 && s.units.unitCount == 36)
                    #expect(s.units.unitSizes.allSatisfy { $0 == 27 || $0 == 36 || $0 == 48 }, "\(s.units.unitSizes)")
                    #expect(s.foreground.count == 36 && (0..<data.classNames.count).contains(s.label))
                    #expect((0..<s.input.count).allSatisfy { s.input.data[$0].isFinite })
                    let again = try data.sample(split, i)
                    #expect(again.id == s.id && again.foreground == s.foreground && again.label == s.label)
                    #expect((0..<s.input.count).allSatisfy { again.input.data[$0] == s.input.data[$0] })
                }
                #expect(throws: (any Error).self) { try data.sample(split, data.count(split)) }
            }
            print("\(format): \(data.count(.train)) train, \(data.count(.test)) test, \(data.classNames.count) classes — \(data.name)")
        }
    }
}
