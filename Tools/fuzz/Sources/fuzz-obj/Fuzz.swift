// Wavefront OBJ meshes (Sweet Home 3D models): `OBJReader.read` refusing short faces and passing over them
// (as catalogues are read), the content detection, and area sampling of every mesh read.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    readMesh(input) { try OBJReader.read($0, name: "fuzz.obj", limits: $1) }
    readMesh(input, limits: MeshLimits(skipShortFaces: true)) { try OBJReader.read($0, name: "fuzz.obj", limits: $1) }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_obj_main`): libFuzzer's driver.
@_cdecl("fuzz_obj_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
