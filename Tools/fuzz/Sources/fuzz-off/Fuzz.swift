// OFF meshes (ModelNet): `OFFReader.read` (header, the counts glued to the magic word, vertices, polygon
// faces as fans), the content detection, and area sampling of every mesh read.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    readMesh(bytes(data, size)) { try OFFReader.read($0, name: "fuzz.off", limits: $1) }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_off_main`): libFuzzer's driver.
@_cdecl("fuzz_off_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
