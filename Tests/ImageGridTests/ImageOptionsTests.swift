import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

@Suite struct ImageOptionsTests {
    @Test func defaultsAndSettings() {
        let o = ImageOptions()
        #expect(o.imageSize == 64 && o.grid == 16 && o.fgRule == .majority && o.normalization == .imageNet)
        #expect(o.maxPerSplit == nil && o.classes == nil && o.masks == nil && !o.includeDifficult && o.seed == 0)
        let s = o.settingsDictionary()
        #expect(s == ["image-size": "64", "grid": "16", "fg-rule": "majority", "normalization-mean": "0.485,0.456,0.406",
                      "normalization-std": "0.229,0.224,0.225", "max-per-split": "all", "classes": "all", "masks": "none",
                      "include-difficult": "false", "seed": "0", "crop-scale": "format"])
        // Every plugin option is recorded in the settings.
        for option in ImageOptions.pluginOptions where option.name != "normalization" { #expect(s[option.name] != nil, "\(option.name)") }
    }

    @Test func parsingPluginOptions() throws {
        let o = try ImageOptions(parsing: ["image-size": "32", "grid": "8", "fg-rule": "corner", "normalization": "0.5,0.5,0.5/0.25,0.25,0.25",
                                           "max-per-split": "100", "classes": "Cardinal, Blue_Jay", "masks": "/data/segmentations.tgz",
                                           "include-difficult": "true", "seed": "7"])
        #expect(o.imageSize == 32 && o.grid == 8 && o.fgRule == .corner && o.maxPerSplit == 100 && o.seed == 7)
        #expect(o.normalization == Normalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]))
        #expect(o.classes == ["Cardinal", "Blue_Jay"] && o.masks == "/data/segmentations.tgz" && o.includeDifficult)
        #expect(try ImageOptions(parsing: ["normalization": "none", "classes": "all", "max-per-split": "all"]).normalization == .identity(channels: 3))
        // The plugin's defaults parse back to the defaults.
        let defaults = Dictionary(uniqueKeysWithValues: ImageOptions.pluginOptions.map { ($0.name, $0.defaultValue) })
        #expect(try ImageOptions(parsing: defaults) == ImageOptions())

        for (name, value) in [("grid", "0"), ("grid", "65"), ("image-size", "big"), ("fg-rule", "center"), ("max-per-split", "-3"),
                              ("normalization", "1,2/3,4"), ("normalization", "0,0,0/1,0,1"), ("seed", "-1"), ("gird", "8")] {
            let error = try #require(throws: ImageCollectionError.self) { try ImageOptions(parsing: [name: value]) }
            #expect(error.description.contains(name) && error.description.contains("expected"), "\(error)")
        }
    }

    @Test func codableWithMissingKeys() throws {
        var o = ImageOptions()
        o.grid = 28
        o.classes = ["a"]
        o.fgRule = .corner
        let data = try JSONEncoder().encode(o)
        #expect(try JSONDecoder().decode(ImageOptions.self, from: data) == o)
        let partial = try JSONDecoder().decode(ImageOptions.self, from: Data(#"{"grid": 8}"#.utf8))
        var expected = ImageOptions()
        expected.grid = 8
        #expect(partial == expected)
    }
}
