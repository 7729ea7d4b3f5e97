// Safetensors: the 8-byte header length, the JSON header, entries, offsets, and the conversion of every tensor.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? Safetensors.decode(UnsafeRawBufferPointer(start: data, count: size), file: "fuzz.safetensors")
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_safetensors_main`): libFuzzer's driver.
@_cdecl("fuzz_safetensors_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
