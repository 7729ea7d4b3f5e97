// The JSON readers: the safetensors header parser (given the input as a header), and Foundation's
// JSONSerialization as kd-tool uses it on untrusted text (checkpoint metadata, a composite's manifest).
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    let length = UInt64(size)
    var file = (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + input
    file.withUnsafeBytes { _ = try? Safetensors.decode($0, file: "fuzz.json") }
    file.removeAll()
    _ = try? JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed])
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_json_main`): libFuzzer's driver.
@_cdecl("fuzz_json_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
