// PLY meshes, ASCII and binary in both byte orders: `PLYReader.read` (header, elements, scalar and list
// properties of every type), the content detection, and area sampling of every mesh read.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    readMesh(bytes(data, size)) { try PLYReader.read($0, name: "fuzz.ply", limits: $1) }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_ply_main`): libFuzzer's driver.
@_cdecl("fuzz_ply_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
