// Tiny-ImageNet's wnids.txt, words.txt, a class's boxes file and val_annotations.txt, the input's parts
// separated by 0x1E, in a tar archive with two small images; every sample is read.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 4)
    let root = "tiny-imagenet-200/"
    openCollection([(root + "wnids.txt", p[0]), (root + "words.txt", p[1]),
                    (root + "train/n01443537/n01443537_boxes.txt", p[2]), (root + "val/val_annotations.txt", p[3]),
                    (root + "train/n01443537/images/n01443537_0.JPEG", tinyJPEG), (root + "val/images/val_0.JPEG", tinyJPEG)])
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_tinyimagenet_main`): libFuzzer's driver.
@_cdecl("fuzz_tinyimagenet_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
