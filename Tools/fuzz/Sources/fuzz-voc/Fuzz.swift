// Pascal VOC's image sets (ImageSets/Main/{train,val}.txt) and one annotation, the input's parts separated by
// 0x1E, in a tar archive with a small image; every sample is read.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 3)
    let root = "VOCdevkit/VOC2012/"
    openCollection([(root + "ImageSets/Main/train.txt", p[0]), (root + "ImageSets/Main/val.txt", p[1]),
                    (root + "Annotations/a.xml", p[2]), (root + "JPEGImages/a.jpg", tinyJPEG)])
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_voc_main`): libFuzzer's driver.
@_cdecl("fuzz_voc_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
