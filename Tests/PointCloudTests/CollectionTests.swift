import Foundation
import KDCore
import KDDatasets
import Testing
@testable import PointCloud

@Suite struct CollectionTests {
    @Test func readsTheModelNetZipLayout() throws {
        let dir = try PointFixtures.temporaryFolder()
        let path = dir + "/ModelNet40.zip"
        try PointFixtures.modelNet(at: path)
        #expect(PointCollection.recognise(path) == .modelNetMeshes)
        let data = try PointDataset(path: path, options: PointOptions())
        #expect(data.classNames == ["bed", "chair", "table"])
        #expect(data.count(.train) == 9 && data.count(.test) == 6)
        #expect(data.sampleShape == [1524, 3])
        let s = try data.sample(.train, 0)
        #expect(s.id == "ModelNet40.zip:ModelNet40/bed/train/bed_0001.off")
        #expect(s.roles.prefix(1024).allSatisfy { $0 == .foreground } && s.roles.suffix(500).allSatisfy { $0 == .background })
        #expect(s.units == .rows(1524, width: 3))
        #expect(s.label == 0)
        #expect(data.isComposite && data.name.contains("SYNTHETIC"))
    }

    /// ModelNet10.zip as distributed holds macOS resource forks (__MACOSX/…/._x.off): never objects.
    @Test func ignoresMacOSResourceForks() throws {
        let dir = try PointFixtures.temporaryFolder()
        let path = dir + "/ModelNet10.zip"
        try PointFixtures.write([("__MACOSX/ModelNet10/a/train/._a_0001.off", [0, 5, 22, 7, 0, 2, 0, 0]),
                                 ("ModelNet10/a/train/._a_0002.off", [0, 5, 22, 7]),
                                 ("ModelNet10/a/train/a_0001.off", Array(PointFixtures.off().utf8)),
                                 ("ModelNet10/b/train/b_0001.off", Array(PointFixtures.shape(1, 0).utf8))], to: path, format: .zip)
        let c = try PointCollection(path: path)
        #expect(c.objects.map(\.member) == ["ModelNet10/a/train/a_0001.off", "ModelNet10/b/train/b_0001.off"])
    }

    /// A catalogue item whose model is a zip holding the OBJ (older .sh3f files) is read through it.
    @Test func readsCatalogueModelsInsideANestedZip() throws {
        let dir = try PointFixtures.temporaryFolder()
        let inner = try ArchiveWriter.archive(.zip, files: [("readme.txt", Array("x".utf8)), ("chair/chair.obj", Array(PointFixtures.obj().utf8))])
        let props = "id=T\nname#1=Chair\ncategory#1=Living room\nmodel#1=/lib/chair.zip\nname#2=Table\ncategory#2=Kitchen\nmodel#2=/lib/table.obj\n"
        try PointFixtures.write([("PluginFurnitureCatalog.properties", Array(props.utf8)), ("lib/chair.zip", inner),
                                 ("lib/table.obj", Array(PointFixtures.shape(2, 0, obj: true).utf8))], to: dir + "/Z.sh3f", format: .zip)
        let c = try PointCollection(path: dir + "/Z.sh3f", testFraction: 0, seed: 0)
        let chair = try #require(c.objects.first { $0.className == "chair" })
        let cloud = try c.cloud(chair, count: 50, seed: 1)
        #expect(cloud.count == 50)
    }

    @Test func injectsBackgroundFromFiveCloudsOfOtherClassesWithProvenance() throws {
        let dir = try PointFixtures.temporaryFolder()
        let path = dir + "/ModelNet10.zip"
        try PointFixtures.modelNet(at: path, classes: ["a", "b", "c", "d"], train: 4, test: 2, root: "ModelNet10")
        var o = PointOptions(); o.points = 64; o.background = 40
        let data = try PointDataset(path: path, options: o)
        for k in 0..<data.count(.train) {
            let s = try data.sample(.train, k)
            let own = s.id
            let provenance = try #require(s.provenance)
            #expect(provenance.count == 104)
            #expect(provenance.prefix(64).allSatisfy { $0.hasPrefix(own + "#") })
            let sources = Set(provenance.suffix(40).map { String($0.split(separator: "#").first!) })
            #expect(sources.count <= 5 && sources.count >= 2, "\(sources)")
            #expect(!sources.contains(own))
            // Other classes only, same split only.
            let className = data.classNames[s.label]
            #expect(sources.allSatisfy { !$0.contains("/\(className)/") && $0.contains("/train/") })
            // The injected points are exactly the source clouds' points.
            let x = s.input.array
            for (j, p) in provenance.enumerated().suffix(40).prefix(3) {
                let parts = p.split(separator: " ").first!.split(separator: "#")
                let src = String(parts[0]), index = Int(parts[1])!
                let srcIndex = try #require((0..<data.count(.train)).first { (try? data.sample(.train, $0).id) == src })
                let other = try data.sample(.train, srcIndex).input.array
                #expect(Array(x[(3 * j)..<(3 * j + 3)]) == Array(other[(3 * index)..<(3 * index + 3)]))
            }
        }
        let a = try data.sample(.test, 1), b = try PointDataset(path: path, options: o).sample(.test, 1)
        #expect(a.input.array == b.input.array && a.provenance == b.provenance, "deterministic per seed")
    }

    @Test func readsTheResampledLayout() throws {
        let dir = try PointFixtures.temporaryFolder()
        let path = dir + "/modelnet40_normal_resampled.zip"
        try PointFixtures.resampled(at: path)
        #expect(PointCollection.recognise(path) == .modelNetResampled)
        var o = PointOptions(); o.points = 64; o.background = 32
        let data = try PointDataset(path: path, options: o)
        #expect(data.classNames == ["airplane", "bathtub", "bed"])
        #expect(data.count(.train) == 9 && data.count(.test) == 6)
        let s = try data.sample(.test, 0)
        #expect(s.id.hasSuffix("modelnet40_normal_resampled/airplane/airplane_0004.txt"))
        o.points = 200
        #expect(throws: MeshError.self, "80 rows cannot give 200 points") { try PointDataset(path: path, options: o).sample(.train, 0) }
    }

    @Test func parsesJavaPropertiesAsLatin1WithEscapesAndContinuations() {
        var bytes = Array("# comment\n! other\nname#1=Bill 10\\u20ac\nname#2 = Dining \\\n     table\nkey\\=x:value\nempty=\nlong=a\\\\\n".utf8)
        bytes += [0x63, 0x3D, 0xE9, 0x0A]   // c=é in ISO-8859-1
        let p = JavaProperties.parse(bytes)
        #expect(p["name#1"] == "Bill 10€")
        #expect(p["name#2"] == "Dining table")
        #expect(p["key=x"] == "value")
        #expect(p["empty"] == "")
        #expect(p["long"] == "a\\")
        #expect(p["c"] == "é")
    }

    @Test func mapsCatalogueItemsToClasses() {
        let cases: [(String, String, String?)] = [
            ("Armchair", "Living room", "chair"), ("Dining table", "Kitchen", "table"), ("Desk lamp", "Lights", "lamp"),
            ("Desk", "Office", "desk"), ("Double bed", "Bedroom", "bed"), ("Bedside table", "Bedroom", "table"),
            ("Female", "Characters", "person"), ("Ford Focus", "Vehicles", "car"), ("Bicycle", "Vehicles", nil),
            ("Screen door", "Doors and windows", "door"), ("Window", "Doors and windows", "window"),
            ("Spider plant", "Living room", "plant"), ("Corner sofa", "Living room", "sofa"), ("Wine bottle", "Kitchen", "bottle"),
            ("Fridge", "Kitchen", nil), ("Candle", "Lights", nil),
        ]
        for (name, category, expected) in cases {
            #expect(SweetHome3DClasses.classify(name: name, category: category) == expected, "\(name) / \(category)")
        }
    }

    @Test func readsASweetHome3DCatalogue() throws {
        let dir = try PointFixtures.temporaryFolder()
        let path = dir + "/Test.sh3f"
        try PointFixtures.sh3f(at: path, perClass: 5)
        #expect(PointCollection.recognise(path) == .sweetHome3D)
        let c = try PointCollection(path: path, testFraction: 0.2, seed: 0)
        #expect(Set(c.objects.map(\.className)) == ["chair", "lamp", "table"], "fridges map to no class")
        #expect(c.objects.filter { $0.className == "chair" && $0.split == .test }.count == 1)
        #expect(c.objects.first { $0.member == "testlib/item2/item2.obj" }?.className == "table", "continued line")
        var o = PointOptions(); o.points = 128; o.background = 50
        let data = try PointDataset(path: path, options: o)
        #expect(data.count(.train) == 12 && data.count(.test) == 3)
        let s = try data.sample(.train, 0)
        #expect(s.input.shape == [178, 3])
    }

    @Test func refusesUnrecognisedArchivesAndUnknownClasses() throws {
        let dir = try PointFixtures.temporaryFolder()
        let junk = dir + "/junk.tgz"
        try PointFixtures.notAnArchive(at: junk)
        #expect(PointCollection.recognise(junk) == nil)
        #expect(throws: PointCollectionError.self) { try PointDataset(path: junk, options: PointOptions()) }
        let path = dir + "/ModelNet40.zip"
        try PointFixtures.modelNet(at: path)
        var o = PointOptions(); o.classes = ["sofa"]
        #expect(throws: PointCollectionError.badOption(name: "classes", value: "sofa", expected: "one of bed, chair, table")) {
            try PointDataset(path: path, options: o)
        }
        // A bad member is an error naming it when its sample is read.
        let bad = dir + "/bad.zip"
        try PointFixtures.write([("ModelNet40/a/train/a_0001.off", Array("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 9\n".utf8)),
                                 ("ModelNet40/b/train/b_0001.off", Array(PointFixtures.off().utf8))], to: bad, format: .zip)
        let data = try PointDataset(path: bad, options: PointOptions())
        #expect(throws: MeshError.indexOutOfRange(file: "bad.zip:ModelNet40/a/train/a_0001.off", line: 6, index: 9, vertices: 3)) {
            try data.sample(.train, 0)
        }
    }
}
