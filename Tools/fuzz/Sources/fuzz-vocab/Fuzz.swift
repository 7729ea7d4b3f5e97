// vocab.txt and the WordPiece tokenizer: the input's first part (parts separated by 0x1E) is read as a
// vocabulary (`WordPieceVocabulary(bytes:source:)`: UTF-8, duplicates, special tokens); the second part is
// tokenised with it (or with a small valid vocabulary when the first is refused): BERT's basic tokenizer
// (control characters, CJK, accents, punctuation) and greedy longest-match word pieces with offsets.
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 2)
    let vocabulary = (try? WordPieceVocabulary(bytes: p[0], source: "fuzz-vocab.txt")) ?? smallVocabulary
    let text = String(decoding: p[1], as: UTF8.self)
    for piece in vocabulary.tokenize(text) {
        precondition(piece.id >= 0 && piece.id < vocabulary.count && piece.start < piece.end, "bad piece \(piece)")
    }
    _ = smallVocabulary.tokenize(text)
    return 0
}

/// The executable's entry point (SwiftPM links `main` to `fuzz_vocab_main`): libFuzzer's driver.
@_cdecl("fuzz_vocab_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    kd_fuzz_run(argc, argv)
}
