// The tab-separated text readers: the input's parts (separated by 0x1E) are Rotten Tomatoes snippets
// (`RottenTomatoesFormat`), a GLUE SST-2 file (`SST2Format`) and a VADER lexicon (`parseLexicon`); every
// sentence read is encoded into a sample with a small vocabulary and the lexicon's foreground.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 3)
    _ = RottenTomatoesFormat.looksLikeSnippets(p[0]); _ = SST2Format.isHeader(p[1])
    let snippets = RottenTomatoesFormat.parse(p[0], file: "fuzz-snippets.txt")
    let sst2 = (try? SST2Format.parse(p[1], file: "fuzz-train.tsv"))?.rows ?? []
    let lexicon = (try? VaderAnnotator.parseLexicon(String(decoding: p[2], as: UTF8.self), source: "fuzz-lexicon.txt")) ?? smallLexicon
    let encoder = SentenceEncoder(vocabulary: smallVocabulary, annotator: VaderAnnotator(valence: lexicon, threshold: 1, modifiers: true, source: "fuzz"),
                                  length: 12)
    var truncated = false
    for s in (snippets.train.rows + snippets.test.rows + sst2).prefix(64) {
        _ = encoder.encode(id: s.id, text: s.text, label: s.label, truncated: &truncated)
    }
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_tsv_main`): libFuzzer's driver.
@_cdecl("fuzz_tsv_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
