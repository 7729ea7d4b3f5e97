import Foundation
import KDCore
import KDDatasets
import Testing
import _TestSupport
@testable import ImageGrid

@Suite struct AnimalMNISTTests {
    @Test func wheelWithPickles() throws {
        let dir = try Fixtures.temporaryFolder()
        let path = dir + "/animal_mnist-0.4-py3-none-any.whl"
        try Fixtures.animalMNISTWheel(classes: ["Bear", "Bird"], perClass: 5).write(to: path, format: .zip)
        #expect(recogniseImageCollection(path) == "Animal-MNIST")
        var options = ImageOptions()
        options.imageSize = 28
        options.grid = 7
        let dataset = try openImageCollection(path, options: options)
        #expect(dataset.classNames == ["Bear", "Bird"])
        #expect(dataset.settings["class-names"] == "animal_mnist-0.4.dist-info/METADATA, in the order listed")
        // Item i of each class is a test item when i % 5 == 4.
        #expect(dataset.count(.train) == 8 && dataset.count(.test) == 2 && dataset.skipped.isEmpty)
        #expect(dataset.record(.test, 0).id == "animal_mnist-0.4-py3-none-any.whl:animal_mnist/data/Animal_MNIST/animal_data_version_3.gz#4")
        #expect(dataset.record(.test, 1).objectIndex == 9 && dataset.record(.test, 1).label == 1)
        // Silhouettes on black: the ring's hole is filled.
        let cells = (0..<49).map { [2, 3, 4].contains($0 / 7) && [2, 3, 4].contains($0 % 7) }
        #expect((0..<8).allSatisfy { dataset.foreground(.train, $0) == cells })
        #expect(dataset.displayImage(.train, 3)[x: 8, y: 8, c: 1] == 120)
    }

    @Test func withoutMetadataTheClassesAreNumbered() throws {
        let dir = try Fixtures.temporaryFolder()
        var wheel = try Fixtures.animalMNISTWheel(classes: ["Bear", "Bird", "Cat"], perClass: 5)
        wheel.remove("animal_mnist-0.4.dist-info/METADATA")
        try wheel.write(to: dir + "/animals.whl", format: .zip)
        var options = ImageOptions()
        options.imageSize = 8
        options.grid = 2
        let dataset = try openImageCollection(dir + "/animals.whl", options: options)
        #expect(dataset.classNames == ["class0", "class1", "class2"] && dataset.count(.train) == 12)
    }

    /// The real wheel (`pip download --no-deps animal-mnist==0.4 -d /tmp/am`), when present.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/tmp/am/animal_mnist-0.4-py3-none-any.whl")))
    func realWheel() throws {
        var options = ImageOptions()
        options.imageSize = 28
        options.grid = 7
        let dataset = try openImageCollection("/tmp/am/animal_mnist-0.4-py3-none-any.whl", options: options)
        #expect(dataset.classNames == ["Bear", "Bird", "Cat", "Cow", "Dog", "Elephant", "Giraffe", "Horse", "Sheep", "Zebra"])
        #expect(dataset.count(.train) == 8000 && dataset.count(.test) == 2000 && dataset.skipped.isEmpty)
        let share = (0..<2000).map { Double(dataset.foreground(.test, $0).filter { $0 }.count) / 49 }
        print("real Animal-MNIST: mean fg share of 7×7 cells", share.reduce(0, +) / 2000)
        #expect(share.allSatisfy { $0 > 0 && $0 < 1 })
    }
}
