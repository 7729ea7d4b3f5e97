// The pickle machine and the numpy-array reader on top of it (Animal-MNIST's .pkl.gz members).
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let array = try? NumpyPickle.parse(bytes: bytes(data, size), name: "fuzz.pkl", limit: 16 << 20) {
        _ = try? array.integers()
        _ = try? array.floats()
    }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_pickle_main`): libFuzzer's driver.
@_cdecl("fuzz_pickle_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
