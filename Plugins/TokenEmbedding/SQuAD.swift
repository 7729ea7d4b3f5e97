import Foundation
import KDCore

/// One SQuAD question with its context and first answer (character offsets in Unicode scalars).
public struct SQuADRecord: Sendable, Equatable {
    public var id: String
    public var question: String
    public var context: String
    public var answer: String
    public var answerStart: Int
}

/// SQuAD v1.1 / v2.0 (Rajpurkar et al. 2016, 2018): `data[].paragraphs[].context` and
/// `qas[].{id, question, answers[].{text, answer_start}}`; v2.0's `is_impossible` questions have no answer
/// span and are skipped and counted. The first answer is the target (the dev set lists several; exact
/// match and F1 here are against that one, over token positions: Docs/Text.md). An answer whose offset is
/// outside its context, or whose text differs from the context at that offset, is reported and skipped.
///
/// Sample: `[CLS] question [SEP] context window [SEP]`, padded to T. The question is cut to at most T/3
/// pieces; the context window is the stretch of T − 3 − |question| pieces that centres the answer (an
/// answer longer than that is reported and skipped). Roles: `[CLS]`, the question, both `[SEP]` and the
/// padding are ignored; context pieces of the answer (± `fg-window` pieces; optionally pieces of context
/// words that also occur in the question) are foreground, the other context pieces background.
/// Target: `.span(start, end)` in positions of the sample (inclusive).
public enum SQuADReader {
    public static func looksLikeSQuAD(_ prefix: [UInt8]) -> Bool {
        guard let first = prefix.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }), first == UInt8(ascii: "{") else { return false }
        let text = String(decoding: prefix, as: UTF8.self)
        return text.contains("\"data\"") && (text.contains("\"paragraphs\"") || text.contains("\"version\""))
    }

    /// The records of one SQuAD JSON file; bad records go to `problems` with their JSON path.
    public static func records(_ bytes: [UInt8], file: String, maxDepth: Int = BoundedJSON.defaultMaxDepth) throws -> ReadRows<SQuADRecord> {
        let json: JSONValue
        do { json = try BoundedJSON.parse(bytes, maxDepth: maxDepth) } catch let e as BoundedJSON.ParseError {
            throw TextDataError.badJSON(file: file, path: e.path, reason: "line \(e.line), column \(e.column): \(e.reason)")
        }
        guard let data = json["data"]?.array else {
            throw TextDataError.badRecord(file: file, path: "$.data", reason: "expected an array of articles (SQuAD v1.1/v2.0 layout)")
        }
        var out = ReadRows<SQuADRecord>()
        var impossible = 0
        for (a, article) in data.enumerated() {
            guard let paragraphs = article["paragraphs"]?.array else {
                out.problems.append("\(file) at $.data[\(a)].paragraphs: missing or not an array; article skipped"); continue
            }
            for (p, paragraph) in paragraphs.enumerated() {
                let where_ = "$.data[\(a)].paragraphs[\(p)]"
                guard let context = paragraph["context"]?.string, let qas = paragraph["qas"]?.array else {
                    out.problems.append("\(file) at \(where_): needs a string 'context' and an array 'qas'; paragraph skipped"); continue
                }
                let scalars = Array(context.unicodeScalars)
                for (q, qa) in qas.enumerated() {
                    let at = "\(where_).qas[\(q)]"
                    if qa["is_impossible"]?.bool == true { impossible += 1; continue }
                    guard let question = qa["question"]?.string, let id = qa["id"]?.string,
                          let answer = qa["answers"]?.array?.first, let text = answer["text"]?.string,
                          let startValue = answer["answer_start"]?.number, startValue == startValue.rounded() else {
                        out.problems.append("\(file) at \(at): needs 'id', 'question' and answers[0] with 'text' and an integer 'answer_start'; skipped"); continue
                    }
                    let answerScalars = Array(text.unicodeScalars)
                    // Compared as a number first: answer_start 1e300 is an integer JSON value no Int holds.
                    guard startValue >= 0, startValue < Double(scalars.count), !answerScalars.isEmpty,
                          Int(startValue) + answerScalars.count <= scalars.count else {
                        let shown = startValue.magnitude < 1e15 ? String(Int(startValue)) : String(startValue)
                        out.problems.append("\(file) at \(at).answers[0]: answer_start \(shown) (+\(answerScalars.count) characters) is outside the context (\(scalars.count) characters); skipped"); continue
                    }
                    let start = Int(startValue)
                    guard Array(scalars[start..<(start + answerScalars.count)]) == answerScalars else {
                        out.problems.append("\(file) at \(at).answers[0]: the context at answer_start \(start) does not read '\(text.prefix(40))'; skipped"); continue
                    }
                    out.rows.append(SQuADRecord(id: id, question: question, context: context, answer: text, answerStart: start))
                }
            }
        }
        out.dropped["unanswerable (v2.0 is_impossible)"] = impossible
        return out
    }

    /// Encodes one record; nil with a reason when it does not fit.
    public static func encode(_ r: SQuADRecord, vocabulary v: WordPieceVocabulary, options o: TextOptions) -> (EncodedText?, String?) {
        let t = o.maxLength
        let question = Array(v.tokenize(r.question).prefix(max(1, t / 3)))
        let context = v.tokenize(r.context)
        let available = t - 3 - question.count
        let a = r.answerStart, b = r.answerStart + r.answer.unicodeScalars.count
        guard let first = context.firstIndex(where: { $0.end > a }), let last = context.lastIndex(where: { $0.start < b }), first <= last else {
            return (nil, "\(r.id): the answer covers no word piece")
        }
        let answerLength = last - first + 1
        guard available >= 1, answerLength <= available else {
            return (nil, "\(r.id): the answer has \(answerLength) pieces, the window \(max(available, 0)) (max-length \(t))")
        }
        let begin = max(0, min(first - (available - answerLength) / 2, context.count - available))
        let window = Array(context[begin..<min(context.count, begin + available)])
        let questionWords = Set(WordPieceVocabulary.basicWords(r.question).map(\.text).filter { $0.count > 2 })
        let contextWords = WordPieceVocabulary.basicWords(r.context)
        var ids = [v.cls], pieces = ["[CLS]"], words = [-1], roles: [UnitRole] = [.ignored]
        for q in question { ids.append(q.id); pieces.append(q.text); words.append(-1); roles.append(.ignored) }
        ids.append(v.sep); pieces.append("[SEP]"); words.append(-1); roles.append(.ignored)
        let offset = ids.count
        for (k, piece) in window.enumerated() {
            let c = begin + k
            var fg = c >= first - o.fgWindow && c <= last + o.fgWindow
            if o.fgQuestionWords && questionWords.contains(contextWords[piece.word].text) { fg = true }
            ids.append(piece.id); pieces.append(piece.text); words.append(piece.word); roles.append(fg ? .foreground : .background)
        }
        ids.append(v.sep); pieces.append("[SEP]"); words.append(-1); roles.append(.ignored)
        let target = Target.span(start: offset + first - begin, end: offset + last - begin)
        return (EncodedText(id: "squad:\(r.id)", ids: ids, pieces: pieces, words: words, roles: roles, target: target,
                            text: r.question + " ||| " + r.context), nil)
    }

    static func open(_ path: String, files: TextFiles, format: TextFormat, vocabulary: WordPieceVocabulary,
                     options o: TextOptions) throws -> TextDataset {
        guard case let .squad(trainMember, devMember) = format else { preconditionFailure("not SQuAD") }
        var problems: [String] = []
        var dropped: [String: Int] = [:]
        func read(_ member: String) throws -> [SQuADRecord] {
            let rows = try records(try files.read(member), file: files.name(member))
            problems += rows.problems
            dropped.merge(rows.dropped, uniquingKeysWith: +)
            return rows.rows
        }
        var train: [SQuADRecord], test: [SQuADRecord]
        if trainMember == nil && devMember == nil {
            // One file: questions whose position is a multiple of 5 (counting from 1) are the test split.
            let all = try read("")
            train = all.enumerated().filter { $0.offset % 5 != 4 }.map(\.element)
            test = all.enumerated().filter { $0.offset % 5 == 4 }.map(\.element)
        } else {
            guard let trainMember, let devMember else {
                throw TextDataError.unreadable(file: path, reason: "SQuAD needs both train-v*.json and dev-v*.json (found only \(trainMember ?? devMember ?? ""))")
            }
            train = try read(trainMember); test = try read(devMember)
        }
        func encodeAll(_ records: [SQuADRecord], limit: Int) -> [EncodedText] {
            // Subsets: evenly spaced, and only records that fit, until `limit` of them are encoded.
            var out: [EncodedText] = []
            let candidates = limit > 0 ? TextOptions.evenSubset(records, min(records.count, limit * 2)) : records
            for r in candidates {
                if limit > 0 && out.count >= limit { break }
                let (e, why) = encode(r, vocabulary: vocabulary, options: o)
                if let e { out.append(e) } else if let why { problems.append("\(path): \(why); skipped") }
            }
            return out
        }
        let trainSamples = encodeAll(train, limit: o.maxTrain), testSamples = encodeAll(test, limit: o.maxTest)
        guard trainSamples.count >= 2, testSamples.count >= 1 else {
            throw TextDataError.tooFewSamples(file: path, found: trainSamples.count + testSamples.count, reason: problems.first ?? "no answerable questions")
        }
        var settings = o.recorded
        settings["format"] = "squad"
        settings["foreground"] = "answer pieces ± \(o.fgWindow)" + (o.fgQuestionWords ? ", context words found in the question" : "")
        settings["vocabulary"] = "\(vocabulary.source) (\(vocabulary.count) tokens)"
        for (k, v) in dropped { settings["dropped: \(k)"] = String(v) }
        return TextDataset(name: "SQuAD (\(files.root))", classNames: ["start", "end"], task: .span, length: o.maxLength,
                           vocabulary: vocabulary, train: trainSamples, test: testSamples, settings: settings, problems: problems)
    }
}
