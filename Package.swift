// swift-tools-version: 6.0
// kd-tool: quantifying the knowledge in a DNN to explain knowledge distillation.
// Layout (Docs/Architecture.md): Core/ Plugins/ Datasets/ Tests/ Tools/ Docs/.
//
// No target uses unsafe compiler flags, so other packages can depend on this one (a plugin written in its
// own package depends on `KDCore`, `KDDatasets` and `KDToolKit`, and tests itself with `KDPluginTesting`).
// Hot kernels get their speed from unsafe buffer pointers inside the kernel, not from a package-wide flag.
import PackageDescription

let package = Package(
    name: "kd-tool",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kd-tool", targets: ["kd-tool"]),
        .library(name: "KDCore", targets: ["KDCore"]),
        .library(name: "KDDatasets", targets: ["KDDatasets"]),
        .library(name: "KDToolKit", targets: ["KDToolKit"]),
        .library(name: "KDPluginTesting", targets: ["KDPluginTesting"]),
        .library(name: "ImageGrid", targets: ["ImageGrid"]),
        .library(name: "PointCloud", targets: ["PointCloud"]),
        .library(name: "TokenEmbedding", targets: ["TokenEmbedding"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: - System libraries (Debian -dev packages, installed by Tools/scripts/setup.sh)
        .systemLibrary(name: "_CBLAS", path: "Core/_CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // oneDNN: Debian's libdnnl-dev ships no pkg-config file; the module map links "dnnl".
        .systemLibrary(name: "_CDNNL", path: "Core/_CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "_CSQLite", path: "Core/_CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "_CArchive", path: "Datasets/_CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        // libjpeg and libpng report errors by longjmp, which Swift cannot catch: a small C shim
        // turns every error and warning into a return code and a message.
        .target(name: "_CImageCodecs", path: "Datasets/_CImageCodecs",
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("z")]),

        // Hand-written C kernels (Winograd transforms), AVX2 chosen at run time per function, no compiler flags;
        // and the oneDNN convolution plans (dnnl_conv.c).
        .target(name: "_CKernels", dependencies: ["_CDNNL"], path: "Core/_CKernels",
                linkerSettings: [.linkedLibrary("dnnl")]),

        // MARK: - Core engine
        .target(name: "KDCore", dependencies: ["_CBLAS", "_CSQLite", "_CKernels"], path: "Core/KDCore"),
        // The shared conformance suite every plugin's tests run (in this package or another one).
        .target(name: "KDPluginTesting", dependencies: ["KDCore"], path: "Core/KDPluginTesting"),

        // MARK: - Datasets (archives, decoders, builders)
        .target(name: "KDDatasets",
                dependencies: ["KDCore", "_CArchive", "_CImageCodecs", .product(name: "Crypto", package: "swift-crypto")],
                path: "Datasets/KDDatasets"),

        // MARK: - Plugins (one target per modality; each depends on Core and Datasets only)
        .target(name: "ImageGrid", dependencies: ["KDCore", "KDDatasets"], path: "Plugins/ImageGrid"),
        .target(name: "PointCloud", dependencies: ["KDCore", "KDDatasets"], path: "Plugins/PointCloud"),
        .target(name: "TokenEmbedding", dependencies: ["KDCore", "KDDatasets"], path: "Plugins/TokenEmbedding"),

        // MARK: - Tools
        // The fixed speed workloads of Docs/Benchmarks.md (modality-shaped networks, so not in Core).
        .target(name: "KDBench", dependencies: ["KDCore"], path: "Tools/KDBench"),
        // Every subcommand; takes the list of plugins as input and names none of them.
        .target(name: "KDToolKit",
                dependencies: ["KDCore", "KDDatasets", "KDBench",
                               .product(name: "ArgumentParser", package: "swift-argument-parser"),
                               .product(name: "Yams", package: "Yams")],
                path: "Tools/KDToolKit"),
        // The built-in plugins, handed to KDToolKit: the one place that lists them.
        .executableTarget(name: "kd-tool", dependencies: ["KDToolKit", "ImageGrid", "PointCloud", "TokenEmbedding"], path: "Tools/kd-tool"),

        // MARK: - Tests (one target per module)
        .target(name: "_TestSupport", dependencies: ["KDCore"], path: "Tests/_TestSupport"),
        // The reference fixtures are read from the source tree (#filePath), not bundled as resources.
        .testTarget(name: "KDCoreTests", dependencies: ["KDCore", "KDPluginTesting", "_TestSupport"],
                    path: "Tests/KDCoreTests", exclude: ["Fixtures"]),
        .testTarget(name: "KDDatasetsTests", dependencies: ["KDDatasets", "_TestSupport"],
                    path: "Tests/KDDatasetsTests"),
        .testTarget(name: "KDBenchTests", dependencies: ["KDBench", "_TestSupport"], path: "Tests/KDBenchTests"),
        .testTarget(name: "KDToolKitTests", dependencies: ["KDToolKit", "_TestSupport"], path: "Tests/KDToolKitTests"),
        .testTarget(name: "ImageGridTests", dependencies: ["ImageGrid", "KDDatasets", "KDPluginTesting", "_TestSupport"],
                    path: "Tests/ImageGridTests"),
        .testTarget(name: "PointCloudTests", dependencies: ["PointCloud", "KDDatasets", "KDPluginTesting", "_TestSupport"],
                    path: "Tests/PointCloudTests"),
        .testTarget(name: "TokenEmbeddingTests", dependencies: ["TokenEmbedding", "KDDatasets", "KDPluginTesting", "_TestSupport"],
                    path: "Tests/TokenEmbeddingTests"),
    ],
    swiftLanguageModes: [.v5]
)
