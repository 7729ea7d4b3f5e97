import ArgumentParser
import Foundation
import KDCore
import KDDatasets

/// `kd-tool check PATH [--plugin NAME] [--option k=v …]`: reads a file the way an analysis would and says
/// what it holds and what is wrong with it (Docs/Robustness.md). Datasets are recognised by the registered
/// plugins and every sample of both splits is read; safetensors checkpoints are decoded fully; other files
/// are offered to plugins that check single files (``FileChecking``); when nothing claims the file it is read
/// as an archive to say what is wrong with it.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a file kd-tool reads (a dataset, a checkpoint, or a file a plugin claims) and list every problem.",
        discussion: """
        A dataset is recognised by its content (or opened with --plugin) and every sample of both splits is \
        read as an analysis reads it: the command prints the format, splits, classes, counts per class, the \
        sample shape, units per sample and how many units are foreground, background or ignored. A safetensors \
        checkpoint is validated to its last byte and its tensors are listed with dtypes and shapes. Files a \
        plugin claims are decoded by that plugin. Every problem is printed on its own line (file, member, line \
        or record, reason) and a summary comes last. The exit status is 0 when nothing is wrong, 1 when any \
        record is bad or the file is refused.
        """)

    @Argument(help: "The file or folder to check.") var path: String
    @Option(help: "Open the dataset with this plugin instead of recognising it.") var plugin: String?
    @Option(name: .customLong("option"), help: "A plugin setting NAME=VALUE (repeatable), as for analyze.") var pluginOptions: [String] = []

    func validate() throws {
        for o in pluginOptions where !o.contains("=") {
            throw ValidationError("--option takes NAME=VALUE, got '\(o)' (see `kd-tool plugins` for each plugin's options)")
        }
    }

    func run() throws {
        var options: [String: String] = [:]
        for o in pluginOptions {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            options[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let result = try Self.check(path, plugin: plugin, options: options) { print($0) }
        if !result.passed { throw ExitCode(1) }
    }

    // MARK: - Checking

    /// What a check found. Lines are printed as they come; problems are printed with a `problem:` prefix.
    struct Result {
        var path: String
        var format: String = "unknown"
        var lines: [String] = []
        var problems: [String] = []
        /// The file cannot be used at all.
        var refused = false
        /// Records (samples, tensors, objects) read.
        var records = 0
        var passed: Bool { !refused && problems.isEmpty }

        var summary: String {
            if refused { return "summary: \(path): REFUSED (\(format)): \(problems.count) problem\(problems.count == 1 ? "" : "s")" }
            return "summary: \(path): \(format): \(records) record\(records == 1 ? "" : "s") read, "
                + (problems.isEmpty ? "no problems" : "\(problems.count) problem\(problems.count == 1 ? "" : "s")")
        }
    }

    /// Most problems printed one by one; the rest are counted in the summary.
    static let maxPrintedProblems = 1000

    /// Collects a result and prints its lines as they come.
    final class Output {
        var result: Result
        let emit: (String) -> Void
        private var printed = 0
        init(path: String, emit: @escaping (String) -> Void) { result = Result(path: path); self.emit = emit }

        func line(_ s: String) { result.lines.append(s); emit(s) }

        func problem(_ s: String) {
            result.problems.append(s)
            printed += 1
            if printed <= CheckCommand.maxPrintedProblems { emit("problem: " + CheckCommand.excerpt(s)) }
            else if printed == CheckCommand.maxPrintedProblems + 1 { emit("problem: … (further problems are counted in the summary)") }
        }
    }

    /// Checks `path`, calling `emit` with each output line (the summary last).
    static func check(_ path: String, plugin: String? = nil, options: [String: String] = [:],
                      emit: @escaping (String) -> Void = { _ in }) throws -> Result {
        let out = Output(path: path, emit: emit)
        try run(path, plugin: plugin, options: options, out)
        emit(out.result.summary)
        return out.result
    }

    private static func run(_ path: String, plugin: String?, options: [String: String], _ out: Output) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            out.result.refused = true
            out.problem("\(path): no such file or folder")
            return
        }
        let registry = try Registration.registry()

        // A named plugin opens the file as a dataset, whatever it looks like.
        if let name = plugin {
            let chosen = try registry.plugin(named: name)
            checkDataset(path, plugin: chosen, format: "dataset (plugin \(chosen.name))", options: options, out)
            return
        }
        // A checkpoint: decoded fully.
        if looksLikeSafetensors(path) {
            checkSafetensors(path, out)
            return
        }
        // A dataset some plugin recognises.
        for p in registry.plugins {
            if let format = p.recognise(path) {
                checkDataset(path, plugin: p, format: format, options: options, out)
                return
            }
        }
        // A single file a plugin claims.
        for p in registry.plugins {
            if let checker = p as? FileChecking, let report = checker.check(path) {
                out.result.format = report.format
                out.line("\(path): \(report.format) (plugin \(p.name))")
                for l in report.found { out.line("  " + l) }
                for q in report.problems { out.problem(q) }
                out.result.refused = report.refused
                out.result.records = report.refused ? 0 : 1
                return
            }
        }
        // Nothing claims it: say what is wrong with it read as an archive.
        out.result.refused = true
        if let damage = ArchiveReader.diagnose(path: path) {
            out.result.format = "damaged or unknown file"
            out.problem("\(damage)")
        } else {
            out.result.format = "unrecognised"
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let names = isDirectory.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() : []
            let what = isDirectory.boolValue
                ? "a folder holding " + (names.isEmpty ? "nothing" : names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", …" : ""))
                : (try? ArchiveReader.detectFormat(path: path)).map { "a readable \($0)" } ?? "a file"
            out.problem("\(path): \(what), but no plugin recognises it (tried \(registry.names.joined(separator: ", "))) and it is not a safetensors checkpoint")
        }
    }

    /// At most 300 characters of a problem, so a line of binary junk quoted by a reader stays short.
    static func excerpt(_ s: String) -> String {
        let flat = s.replacingOccurrences(of: "\n", with: " ⏎ ")
        return flat.count <= 300 ? flat : String(flat.prefix(300)) + "…"
    }

    // MARK: Datasets

    static func checkDataset(_ path: String, plugin: ModalityPlugin, format: String, options: [String: String], _ out: Output) {
        func line(_ s: String) { out.line(s) }
        func problem(_ s: String) { out.problem(s) }
        out.result.format = format
        line("\(path): \(format) (plugin \(plugin.name))")
        let source: DatasetSource
        do { source = try plugin.open(path, options: options) } catch {
            out.result.refused = true
            problem("\(error)")
            return
        }
        line("  dataset: \(source.name)\(source.isComposite ? " (composite)" : "")")
        line("  task: \(source.task)")
        let classes = source.classNames
        let shown = classes.prefix(10).joined(separator: ", ") + (classes.count > 10 ? ", … (\(classes.count - 10) more)" : "")
        line("  classes: \(classes.count)\(classes.isEmpty ? "" : " (\(shown))")")
        line("  sample shape: \(source.sampleShape)")
        if !source.settings.isEmpty {
            line("  settings: " + source.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        for p in source.problems { problem(p) }

        let expectedCount = source.sampleShape.reduce(1, *)
        for split in Split.allCases {
            let n = source.count(split)
            var perClass = [Int](repeating: 0, count: classes.count)
            var roles = [0, 0, 0]
            var unitCounts: Set<Int> = []
            var spans = 0, read = 0
            for i in 0..<n {
                let s: Sample
                do { s = try source.sample(split, i) } catch {
                    problem("\(path): \(split) sample \(i): \(error)")
                    continue
                }
                read += 1
                let name = "\(path): \(split) sample \(i) (\(s.id))"
                if s.input.shape != source.sampleShape {
                    problem("\(name): input shape \(s.input.shape), the dataset declares \(source.sampleShape)")
                } else if s.input.count != expectedCount {
                    problem("\(name): \(s.input.count) values, expected \(expectedCount)")
                }
                var nonFinite = 0
                for v in s.input.buffer where !v.isFinite { nonFinite += 1 }
                if nonFinite > 0 { problem("\(name): \(nonFinite) input values are NaN or infinite") }
                let firstAxis = source.sampleShape.first ?? 1
                if let length = s.length, !(length >= 1 && length <= firstAxis) {
                    problem("\(name): length \(length) outside 1...\(firstAxis)")
                }
                switch (s.target, source.task) {
                case let (.label(l), .classification(c)):
                    if l >= 0 && l < c && l < perClass.count { perClass[l] += 1 }
                    else { problem("\(name): label \(l) outside 0..<\(c)") }
                case let (.span(a, b), .span):
                    spans += 1
                    let limit = s.length ?? firstAxis
                    if !(a >= 0 && a <= b && b < limit) { problem("\(name): span \(a)...\(b) outside 0..<\(limit) or reversed") }
                default:
                    problem("\(name): target \(s.target) does not fit the task \(source.task)")
                }
                unitCounts.insert(s.units.unitCount)
                for r in s.roles { roles[Int(r.rawValue)] += 1 }
                if !s.roles.contains(where: { $0 != .ignored }) { problem("\(name): every unit is ignored") }
            }
            out.result.records += read
            var text = "  \(split): \(n) sample\(n == 1 ? "" : "s")"
            if n > 0 {
                let units = unitCounts.sorted()
                text += "; units per sample \(units.count == 1 ? "\(units[0])" : "\(units.first!)…\(units.last!)")"
                text += "; units fg \(roles[1]), bg \(roles[0]), ignored \(roles[2])"
                if case .classification = source.task, !classes.isEmpty {
                    let nonEmpty = perClass.indices.filter { perClass[$0] > 0 }
                    let listed = nonEmpty.prefix(10).map { "\(classes[$0]) \(perClass[$0])" }.joined(separator: ", ")
                    text += "; per class: \(listed)\(nonEmpty.count > 10 ? ", … (\(nonEmpty.count) classes present)" : "")"
                } else if spans > 0 {
                    text += "; \(spans) spans"
                }
            }
            line(text)
            if n == 0 { problem("\(path): the \(split) split is empty") }
        }
    }

    // MARK: Checkpoints

    /// A safetensors file: named so, or an 8-byte length followed by '{'.
    static func looksLikeSafetensors(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { return false }
        if path.hasSuffix(".safetensors") { return true }
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let head = Array((try? h.read(upToCount: 9)) ?? Data())
        guard head.count == 9, head[8] == UInt8(ascii: "{") else { return false }
        let declared = head.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        return declared >= 2 && declared <= UInt64(Safetensors.maxHeaderBytes)
    }

    static func checkSafetensors(_ path: String, _ out: Output) {
        func line(_ s: String) { out.line(s) }
        func problem(_ s: String) { out.problem(s) }
        out.result.format = "safetensors checkpoint"
        line("\(path): safetensors checkpoint")
        let contents: Safetensors.Contents
        do { contents = try Safetensors.read(URL(fileURLWithPath: path)) } catch {
            out.result.refused = true
            problem("\(error)")
            return
        }
        var parameters = 0
        for (name, tensor) in contents.tensors {
            var nonFinite = 0
            for v in tensor.buffer where !v.isFinite { nonFinite += 1 }
            parameters += tensor.count
            line("  \(name): \(contents.dtypes[name]?.rawValue ?? "?") \(tensor.shape)")
            if nonFinite > 0 { problem("\(path): tensor '\(name)': \(nonFinite) of \(tensor.count) values are NaN or infinite") }
        }
        for t in contents.ignored { line("  \(t.name): \(t.dtype) \(t.shape) (not a float tensor: validated, not read)") }
        if !contents.metadata.isEmpty {
            line("  metadata: " + contents.metadata.keys.sorted().map { "\($0) (\(contents.metadata[$0]!.utf8.count) bytes)" }.joined(separator: ", "))
        }
        line("  \(contents.tensors.count) float tensors (\(parameters) values), \(contents.ignored.count) other")
        out.result.records = contents.tensors.count + contents.ignored.count
    }
}
