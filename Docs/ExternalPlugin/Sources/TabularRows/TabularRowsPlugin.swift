// Tabular rows as a kd-tool modality: every feature column is one input unit, and the header marks which
// columns are foreground (the features a person would say carry the label) with a trailing `*`.
//
//     kd-tabular,1
//     split,label,age*,income*,noise1,noise2
//     train,yes,0.3,1.2,-0.5,0.1
//     test,no,-1.1,0.4,0.9,-0.2
//
// Features are standardised with the training split's mean and standard deviation (recorded in the
// dataset's settings). Networks are small MLPs; their hidden ReLU outputs are the taps.
import Foundation
import KDCore

public final class TabularRowsPlugin: ModalityPlugin, DefaultRuns {
    public init() {}
    public let name = "tabular-rows"
    public let summary = "Tabular rows (CSV starting with 'kd-tabular,1'): one unit per feature column; columns marked '*' are foreground; MLP families."
    public var help: String {
        summary + " Option 'max-rows' caps the rows read per split."
    }
    /// b = 0.2 as for images and text; α = 1 (few units, so the entropy term is weighted lightly).
    public let defaults = PluginDefaults(threshold: 0.2, alpha: 1, family: "mlp-s")
    public let options = [PluginOption("max-rows", default: "100000", help: "At most this many rows per split are read.")]

    public var families: [ModelFamily] {
        [ModelFamily(name: "mlp-s", summary: "features → fc1 32 → ReLU → fc2 32 → ReLU → fc3", taps: ["relu1", "relu2"]) { shape, classes, width, seed in
            var g = SeededGenerator(seed: seed)
            let hidden = max(4, Int((32 * width).rounded()))
            return Model(name: "mlp-s", inputShape: shape, layers: [
                ("fc1", Linear(shape[0], hidden, generator: &g)), ("relu1", ReLU()),
                ("fc2", Linear(hidden, hidden, generator: &g)), ("relu2", ReLU()),
                ("fc3", Linear(hidden, classes, generator: &g)),
            ])
        }]
    }

    public func recognise(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 12)) ?? Data()
        return head.starts(with: Data("kd-tabular,1".utf8)) ? "kd-tabular v1" : nil
    }

    public func open(_ path: String, options given: [String: String]) throws -> DatasetSource {
        let options = try resolveOptions(given)
        guard let maxRows = Int(options["max-rows"]!), maxRows >= 1 else {
            throw PluginError.badOption("max-rows", plugin: name, value: options["max-rows"]!, expected: "a positive integer")
        }
        return try TabularDataset(path: path, maxRows: maxRows)
    }

    /// `kd-tool quickstart tabular`: a synthetic table whose label depends on its two foreground columns only.
    public var defaultRuns: [DefaultRun] {
        [DefaultRun(name: "tabular", summary: "A synthetic table (label = sign of two foreground features; four noise features), mlp-s.",
                    family: "mlp-s", options: [:],
                    prepare: { folder, log in
                        let file = folder.appendingPathComponent("tabular-synthetic-s7.csv")
                        if !FileManager.default.fileExists(atPath: file.path) {
                            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                            try TabularDataset.synthetic(rows: 600, seed: 7).write(to: file, atomically: true, encoding: .utf8)
                            log("wrote the synthetic table \(file.path)")
                        }
                        return file.path
                    },
                    configure: { c in
                        c.teacherEpochs = 8; c.studentEpochs = 6; c.studentStage2Epochs = 2; c.baselineEpochs = 6
                        c.batchSize = 32; c.analysedInputs = 16
                        c.entropy.parameterization = .log; c.entropy.noiseSamples = 16; c.entropy.steps = 60
                    })]
    }
}

/// A table read whole (rows are small): standardised features, foreground columns, labels by name.
final class TabularDataset: DatasetSource {
    let name: String
    let isComposite = false
    let classNames: [String]
    let sampleShape: [Int]
    let settings: [String: String]
    let problems: [String]
    private let rows: [Split: [(features: [Float], label: Int, line: Int)]]
    private let roles: [UnitRole]
    private let path: String

    init(path: String, maxRows: Int) throws {
        self.path = path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TabularError(path: path, line: 0, reason: "cannot be read as UTF-8 text")
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard lines.count >= 2, lines[0].hasPrefix("kd-tabular,1") else {
            throw TabularError(path: path, line: 1, reason: "expected the first line 'kd-tabular,1'")
        }
        let header = lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard header.count >= 3, header[0] == "split", header[1] == "label" else {
            throw TabularError(path: path, line: 2, reason: "expected a header 'split,label,<feature>,…', found '\(lines[1].prefix(80))'")
        }
        let features = Array(header.dropFirst(2))
        roles = features.map { $0.hasSuffix("*") ? .foreground : .background }
        var raw: [Split: [([Float], String, Int)]] = [.train: [], .test: []]
        var problems: [String] = []
        for (i, line) in lines.enumerated().dropFirst(2) {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == header.count, let split = Split(rawValue: String(f[0])) else {
                problems.append("\(path):\(i + 1): expected \(header.count) fields starting with train or test; skipped")
                continue
            }
            let values = f.dropFirst(2).compactMap { Float($0) }
            guard values.count == features.count, values.allSatisfy(\.isFinite) else {
                problems.append("\(path):\(i + 1): a feature is not a finite number; skipped")
                continue
            }
            if raw[split]!.count < maxRows { raw[split]!.append((values, String(f[1]), i + 1)) }
        }
        guard !raw[.train]!.isEmpty else { throw TabularError(path: path, line: 0, reason: "has no usable training row") }
        classNames = Set(raw.values.flatMap { $0.map(\.1) }).sorted()
        let index = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        // Standardise with the training split's statistics.
        let train = raw[.train]!
        var mean = [Float](repeating: 0, count: features.count), std = mean
        for j in features.indices {
            let column = train.map { Double($0.0[j]) }
            let m = column.reduce(0, +) / Double(column.count)
            let v = column.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(column.count - 1, 1))
            mean[j] = Float(m); std[j] = Float(max(v.squareRoot(), 1e-6))
        }
        rows = raw.mapValues { split in
            split.map { (zip($0.0.indices, $0.0).map { j, x in (x - mean[j]) / std[j] }, index[$0.1]!, $0.2) }
        }
        sampleShape = [features.count]
        name = "tabular rows (\(URL(fileURLWithPath: path).lastPathComponent))"
        settings = ["features": features.joined(separator: " "), "standardised": "train mean and std",
                    "foreground": features.filter { $0.hasSuffix("*") }.joined(separator: " ")]
        self.problems = problems
    }

    func count(_ split: Split) -> Int { rows[split]?.count ?? 0 }

    func sample(_ split: Split, _ index: Int) throws -> Sample {
        guard let r = rows[split], index >= 0, index < r.count else {
            throw TabularError(path: path, line: 0, reason: "has no \(split) row \(index) (it has \(count(split)))")
        }
        let x = Tensor(shape: sampleShape)
        for (j, v) in r[index].features.enumerated() { x.data[j] = v }
        return Sample(id: "\(URL(fileURLWithPath: path).lastPathComponent):\(r[index].line)", input: x,
                      units: .rows(sampleShape[0], width: 1), roles: roles, target: .label(r[index].label))
    }

    /// A table whose label is the sign of (fg1 + fg2) with a little noise, and four pure-noise columns.
    static func synthetic(rows: Int, seed: UInt64) -> String {
        var g = SeededGenerator(seed: seed)
        var out = "kd-tabular,1\nsplit,label,fg1*,fg2*,noise1,noise2,noise3,noise4\n"
        for i in 0..<rows {
            var v = [Float](repeating: 0, count: 6)
            v.withUnsafeMutableBufferPointer { g.fillGaussian($0.baseAddress!, count: 6) }
            let label = v[0] + v[1] + 0.2 * v[2] > 0 ? "pos" : "neg"
            out += (i % 4 == 3 ? "test" : "train") + ",\(label)," + v.map { String(format: "%.4f", $0) }.joined(separator: ",") + "\n"
        }
        return out
    }
}

struct TabularError: Error, CustomStringConvertible {
    let path: String, line: Int, reason: String
    var description: String { line > 0 ? "\(path):\(line): \(reason)" : "\(path) \(reason)" }
}
