// SQuAD v1.1/v2.0 JSON: `SQuADReader.records` (the bounded JSON parser, the article/paragraph/question
// layout, answer offsets checked against the context), then every record encoded into a sample with a small
// vocabulary, with max-length 16 and 48 and the optional foreground of question words.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = bytes(data, size)
    _ = SQuADReader.looksLikeSQuAD(Array(input.prefix(4096)))
    guard let rows = try? SQuADReader.records(input, file: "fuzz.json") else { return 0 }
    var short = TextOptions(), long = TextOptions()
    short.maxLength = 16; short.fgWindow = 2; short.fgQuestionWords = true
    long.maxLength = 48
    for r in rows.rows.prefix(64) {
        _ = SQuADReader.encode(r, vocabulary: smallVocabulary, options: short)
        _ = SQuADReader.encode(r, vocabulary: smallVocabulary, options: long)
    }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_squad_main`): libFuzzer's driver.
@_cdecl("fuzz_squad_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
