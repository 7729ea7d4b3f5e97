// ILSVRC DET's map file (map_det.txt) and annotations of both splits, the input's parts separated by 0x1E,
// in a tar archive with two small images; every sample is read.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 3)
    openCollection([("ILSVRC/devkit/data/map_det.txt", p[0]),
                    ("ILSVRC/Annotations/DET/train/a.xml", p[1]), ("ILSVRC/Annotations/DET/val/b.xml", p[2]),
                    ("ILSVRC/Data/DET/train/a.JPEG", tinyJPEG), ("ILSVRC/Data/DET/val/b.JPEG", tinyJPEG)])
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_ilsvrc_main`): libFuzzer's driver.
@_cdecl("fuzz_ilsvrc_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
