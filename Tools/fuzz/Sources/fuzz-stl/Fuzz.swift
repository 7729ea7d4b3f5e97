// STL meshes: the input through both `STLReader.readASCII` and `STLReader.readBinary` whatever it looks like,
// then the content detection (which picks one by size and content); every mesh read is sampled.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    readMesh(input) { try STLReader.readASCII($0, name: "fuzz.stl", limits: $1) }
    if let mesh = try? STLReader.readBinary(input, name: "fuzz.stl") { _ = try? SurfaceSampler.sample(mesh, count: 64, seed: 1, name: "fuzz") }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_stl_main`): libFuzzer's driver.
@_cdecl("fuzz_stl_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
