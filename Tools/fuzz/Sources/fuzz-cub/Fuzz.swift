// CUB-200-2011's metadata: images.txt, classes.txt, image_class_labels.txt, train_test_split.txt,
// bounding_boxes.txt and a composite's kd-composite.json, the input's parts separated by 0x1E, in a tar
// archive with two small images; every sample is read.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 6)
    let names = ["images.txt", "classes.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt", "kd-composite.json"]
    var members = [("CUB_200_2011/images/001.A/a.jpg", tinyJPEG), ("CUB_200_2011/images/002.B/b.jpg", tinyJPEG)]
    for (name, part) in zip(names, p) where !(name == "kd-composite.json" && part.isEmpty) {
        members.append(("CUB_200_2011/" + name, part))
    }
    openCollection(members)
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_cub_main`): libFuzzer's driver.
@_cdecl("fuzz_cub_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
