// IDX arrays (Fashion-MNIST), plain or gzip-compressed (the gzip reader with its CRC and length checks).
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? IDX.parse(bytes: bytes(data, size), name: "fuzz-idx3-ubyte", limit: 16 << 20)
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_idx_main`): libFuzzer's driver.
@_cdecl("fuzz_idx_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
