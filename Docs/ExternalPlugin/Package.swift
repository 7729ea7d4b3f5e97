// swift-tools-version: 6.0
// A modality plugin written outside kd-tool's repository: tabular rows (one unit per feature column, some
// columns marked foreground). It depends on kd-tool by path, runs kd-tool's shared conformance suite, and
// builds its own kd-tool with the built-in plugins plus its own (Docs/AddingAPlugin.md walks through it).
import PackageDescription

let package = Package(
    name: "TabularPlugin",
    platforms: [.macOS(.v14)],
    dependencies: [
        // In your own package: .package(url: "<kd-tool's repository>", from: "<version>").
        .package(name: "kd-tool", path: "../.."),
    ],
    targets: [
        // The plugin: depends on kd-tool's Core only.
        .target(name: "TabularRows", dependencies: [.product(name: "KDCore", package: "kd-tool")],
                path: "Sources/TabularRows"),
        // Your kd-tool: the built-in plugins plus this one.
        .executableTarget(name: "my-kd-tool",
                          dependencies: ["TabularRows",
                                         .product(name: "KDToolKit", package: "kd-tool"),
                                         .product(name: "ImageGrid", package: "kd-tool")],
                          path: "Sources/my-kd-tool"),
        // Its tests: the shared conformance suite, and what is particular to tables.
        .testTarget(name: "TabularRowsTests",
                    dependencies: ["TabularRows", .product(name: "KDPluginTesting", package: "kd-tool")],
                    path: "Tests/TabularRowsTests"),
    ]
)
