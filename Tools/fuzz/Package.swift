// swift-tools-version: 6.0
// The fuzzers of kd-tool's parsers (Docs/Robustness.md): one libFuzzer executable per parser, each defining
// LLVMFuzzerTestOneInput. A separate package so the main one never carries sanitizer flags; the flags are
// given on the command line by Tools/scripts/fuzz.sh:
//
//     swift build -c release --package-path Tools/fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import Foundation
import PackageDescription

// A path dependency is identified by its folder's name, which is the checkout's name (not "kd-tool").
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
let main = root.lastPathComponent

let fuzzers = ["fuzz-xml", "fuzz-pickle", "fuzz-safetensors", "fuzz-idx", "fuzz-json", "fuzz-image",
               "fuzz-cub", "fuzz-voc", "fuzz-tinyimagenet", "fuzz-ilsvrc",
               "fuzz-off", "fuzz-ply", "fuzz-stl", "fuzz-obj", "fuzz-point-background",
               "fuzz-squad", "fuzz-tsv", "fuzz-vocab"]

let package = Package(
    name: "kd-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../..")],
    targets: [
        // libFuzzer's driver, started from each fuzzer's entry point (see its header).
        .target(name: "FuzzDriver", path: "Sources/FuzzDriver"),
        .target(name: "FuzzSupport",
                dependencies: ["FuzzDriver", .product(name: "KDCore", package: main), .product(name: "KDDatasets", package: main),
                               .product(name: "ImageGrid", package: main), .product(name: "PointCloud", package: main),
                               .product(name: "TokenEmbedding", package: main)],
                path: "Sources/FuzzSupport"),
    ] + fuzzers.map { name in
        .executableTarget(name: name, dependencies: ["FuzzSupport"], path: "Sources/\(name)")
    },
    swiftLanguageModes: [.v5]
)
