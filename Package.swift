// swift-tools-version: 6.0
// kd-tool: quantifying the knowledge in a DNN to explain knowledge distillation.
// Layout (see Docs/Architecture.md): Core/ Plugins/ Datasets/ Tests/ Tools/ Docs/.
import PackageDescription

// Hot loops must be optimised even in debug test builds, or numeric tests crawl.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "kd-tool",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kd-tool", targets: ["kd-tool"]),
        .library(name: "KDCore", targets: ["KDCore"]),
        .library(name: "KDDatasets", targets: ["KDDatasets"]),
        .library(name: "ImageGrid", targets: ["ImageGrid"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // MARK: - System libraries (Debian -dev packages, installed by .ci/run and the README setup)
        .systemLibrary(name: "_CBLAS", path: "Core/_CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "_CSQLite", path: "Core/_CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "_CArchive", path: "Datasets/_CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        // libjpeg and libpng report errors by longjmp, which Swift cannot catch: a small C shim
        // turns every error and warning into a return code and a message.
        .target(name: "_CImageCodecs", path: "Datasets/_CImageCodecs",
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),

        // MARK: - Core engine
        .target(name: "KDCore", dependencies: ["_CBLAS", "_CSQLite"], path: "Core/KDCore",
                swiftSettings: fastMath),

        // MARK: - Datasets (archives, decoders, builders)
        .target(name: "KDDatasets", dependencies: ["KDCore", "_CArchive", "_CImageCodecs"],
                path: "Datasets/KDDatasets", swiftSettings: fastMath),

        // MARK: - Plugins
        .target(name: "ImageGrid", dependencies: ["KDCore", "KDDatasets"], path: "Plugins/ImageGrid",
                swiftSettings: fastMath),

        // MARK: - Command-line tool
        .executableTarget(name: "kd-tool",
                          dependencies: ["KDCore", "KDDatasets", "ImageGrid",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Tools/kd-tool", swiftSettings: fastMath),

        // MARK: - Tests
        .target(name: "_TestSupport", dependencies: ["KDCore"], path: "Tests/_TestSupport"),
        .testTarget(name: "KDCoreTests", dependencies: ["KDCore", "_TestSupport"], path: "Tests/KDCoreTests"),
        .testTarget(name: "KDDatasetsTests", dependencies: ["KDDatasets", "_TestSupport"],
                    path: "Tests/KDDatasetsTests"),
        .testTarget(name: "ImageGridTests", dependencies: ["ImageGrid", "KDDatasets", "_TestSupport"],
                    path: "Tests/ImageGridTests"),
    ],
    swiftLanguageModes: [.v5]
)
