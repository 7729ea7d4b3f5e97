// Safetensors: the 8-byte header length, the JSON header, entries, offsets, and the conversion of every tensor.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? Safetensors.decode(UnsafeRawBufferPointer(start: data, count: size), file: "fuzz.safetensors")
    return 0
}
