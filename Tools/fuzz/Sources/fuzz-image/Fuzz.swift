// JPEG and PNG decoding through the C shim over libjpeg and libpng (errors become return codes, not longjmp
// across Swift frames), and palette PNGs (VOC's segmentation masks).
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    _ = try? RGBImage.decode(bytes: input, name: "fuzz", maxPixels: 1 << 22)
    _ = try? RGBImage.decodePNGIndices(bytes: input, name: "fuzz.png", maxPixels: 1 << 22)
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_image_main`): libFuzzer's driver.
@_cdecl("fuzz_image_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
