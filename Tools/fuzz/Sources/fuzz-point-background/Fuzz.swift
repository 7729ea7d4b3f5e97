// The archives of `kd-tool dataset point-background`: the input's first part (parts separated by 0x1E) is
// kd-point-background/manifest.json, the second the point file of two samples (train and test), in a tar
// archive opened with the point-cloud plugin, every sample read. The third part goes to the other text
// readers of point collections: `PointListReader` (ModelNet40 resampled rows) and `JavaProperties` with the
// Sweet Home 3D catalogue's items.
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 3)
    let folder = PointBackgroundManifest.folder
    if let path = tarFile([(folder + "/README.txt", Array("fuzz".utf8)), (folder + "/manifest.json", p[0]),
                           (folder + "/samples/train/000000.f32", p[1]), (folder + "/samples/test/000000.f32", p[1])]) {
        defer { unlink(path) }
        if let source = try? PointCloudPlugin().open(path, options: [:]) {
            for split in Split.allCases {
                for i in 0..<source.count(split) { _ = try? source.sample(split, i) }
            }
        }
    }
    _ = try? PointListReader.read(p[2], name: "fuzz.txt", count: 16)
    _ = SweetHome3DClasses.items(JavaProperties.parse(p[2]))
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_point_background_main`): libFuzzer's driver.
@_cdecl("fuzz_point_background_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
