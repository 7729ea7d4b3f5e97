// The XML reader (VOC and ILSVRC DET annotations): depth and size limits, entities, malformed documents.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let document = try? XML.parse(bytes: bytes(data, size), name: "fuzz.xml") {
        _ = document.element("size/width")?.text
        for object in document.children(named: "object") { _ = try? object.double("bndbox/xmin") }
    }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_xml_main`): libFuzzer's driver.
@_cdecl("fuzz_xml_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
