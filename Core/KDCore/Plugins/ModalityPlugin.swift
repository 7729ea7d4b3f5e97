// The plugin protocol every modality (images, point clouds, tokens) implements.

/// Which part of a dataset.
public enum Split: String, Codable, CaseIterable, Sendable {
    case train, test
}

/// A setting a plugin accepts when opening a dataset (e.g. `grid=16`, `fg-rule=majority`).
public struct PluginOption: Sendable, Equatable {
    public let name: String
    public let help: String
    public let defaultValue: String
    public init(_ name: String, default defaultValue: String, help: String) {
        self.name = name; self.defaultValue = defaultValue; self.help = help
    }
}

/// Defaults a plugin offers for its modality (Docs/Method.md §2-3): what `analyze` uses unless an option
/// or the model family says otherwise. Every value ends up in the recorded settings of a run.
public struct PluginDefaults: Codable, Sendable, Equatable {
    /// Knowledge-point threshold b, nats (images and text 0.2; point clouds 0.25, PointNet-like 0.5).
    public var threshold: Double
    /// Entropy weight α.
    public var alpha: Float
    /// The model family used when none is named.
    public var family: String
    /// τ of δ_f²; relative to the input's spread (τ·std(x)) when `tauRelative`, else in input units.
    public var tau: Float = 0.01
    public var tauRelative: Bool = false
    /// σ₀, and the clamp range of the `direct` parameterisation.
    public var initialSigma: Float = 0.01
    public var sigmaMin: Float = 0.001
    public var sigmaMax: Float = 1
    /// Noise samples K per step and optimisation steps T.
    public var noiseSamples: Int = 96
    public var steps: Int = 80
    /// The pinning target mean entropy, nats.
    public var targetEntropy: Double = -2.8

    public init(threshold: Double, alpha: Float, family: String, tau: Float = 0.01, tauRelative: Bool = false,
                initialSigma: Float = 0.01, sigmaMin: Float = 0.001, sigmaMax: Float = 1,
                noiseSamples: Int = 96, steps: Int = 80, targetEntropy: Double = -2.8) {
        self.threshold = threshold; self.alpha = alpha; self.family = family
        self.tau = tau; self.tauRelative = tauRelative; self.initialSigma = initialSigma
        self.sigmaMin = sigmaMin; self.sigmaMax = sigmaMax; self.noiseSamples = noiseSamples; self.steps = steps
        self.targetEntropy = targetEntropy
    }

    /// Entropy settings with this modality's values filled in (the rest keeps `base`).
    public func entropySettings(_ base: EntropySettings = EntropySettings()) -> EntropySettings {
        var e = base
        e.alpha = alpha
        e.tau = tau
        e.tauScale = tauRelative ? .inputStandardDeviation : .absolute
        e.initialSigma = initialSigma
        e.sigmaMin = sigmaMin
        e.sigmaMax = sigmaMax
        e.noiseSamples = noiseSamples
        e.steps = steps
        if e.pinning != nil { e.pinning!.target = targetEntropy }
        return e
    }
}

/// What a family builder is asked for: everything that decides a network's shape.
public struct ModelRequest: Sendable {
    /// The shape of one (padded) sample, no batch axis.
    public var inputShape: [Int]
    /// Classification (output (B, classes)) or span extraction (output (B, T, 2)).
    public var task: TaskKind
    /// Channel/width factor: 1 = the family's standard size; students may be smaller.
    public var width: Double
    public var seed: UInt64
    /// Dataset resources a family may need, e.g. "vocabulary-size" for token embeddings.
    public var resources: [String: String]

    public init(inputShape: [Int], task: TaskKind, width: Double = 1, seed: UInt64 = 1, resources: [String: String] = [:]) {
        self.inputShape = inputShape; self.task = task; self.width = width; self.seed = seed; self.resources = resources
    }

    /// The class count of a classification task (span tasks: 2, the start and end logits).
    public var outputs: Int {
        if case let .classification(c) = task { return c }
        return 2
    }
}

/// How weights trained elsewhere (a safetensors file, e.g. a PyTorch state dict) become a family's
/// parameters: a declared name mapping, and where needed a transformation (e.g. separate query, key and
/// value matrices stacked into one input projection).
public struct PretrainedMapping: @unchecked Sendable {
    /// One line saying what the mapping expects ("BERT-base-style names: embeddings.*, encoder.layer.N.*").
    public let summary: String
    /// From the file's tensors (by name, file layout) to the model's checkpoint tensors (by name, file
    /// layout); may drop tensors the model has no use for (a pooler, a masked-LM head) and report them.
    public let map: (_ tensors: [String: Tensor]) throws -> (mapped: [(String, Tensor)], unused: [String])
    /// Name prefixes of the model's parameters that pretrained files do not provide and that keep their
    /// fresh initialisation (a task head, e.g. `["pooler.", "classifier."]`); every other tensor must be mapped.
    public let freshPrefixes: [String]

    public init(summary: String, freshPrefixes: [String] = [],
                map: @escaping (_ tensors: [String: Tensor]) throws -> (mapped: [(String, Tensor)], unused: [String])) {
        self.summary = summary; self.freshPrefixes = freshPrefixes; self.map = map
    }

    /// Names as they are: a checkpoint of kd-tool, or a PyTorch state dict of the same architecture. Integer
    /// tensors (BatchNorm's `num_batches_tracked`) are not read as floats and are reported as unused.
    public static let identity = PretrainedMapping(summary: "the model's own tensor names (kd-tool checkpoints, PyTorch state dicts of the same architecture)") {
        (mapped: $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, unused: [])
    }
}

/// A family of networks a plugin can build (e.g. `vgg16-s`), with its default taps.
public struct ModelFamily: @unchecked Sendable {
    public let name: String
    public let summary: String
    /// Layer names that make sense as taps, the first being the default (e.g. fc1).
    public let taps: [String]
    /// Family-specific overrides of the plugin's defaults (AlexNet-like: b = 0.25; ResNet-like: α = 6).
    public let threshold: Double?
    public let alpha: Float?
    /// The layer whose output is the analysed input (noise is added there), nil for the network's input.
    /// Token families analyse the output of their word-embedding lookup: the units are token embeddings.
    public let analysedInput: String?
    /// How pretrained weights map onto this family's parameters.
    public let pretrained: PretrainedMapping
    /// Builds a freshly initialised network.
    public let make: (ModelRequest) throws -> Model

    public init(name: String, summary: String, taps: [String], threshold: Double? = nil, alpha: Float? = nil,
                analysedInput: String? = nil, pretrained: PretrainedMapping = .identity,
                make: @escaping (ModelRequest) throws -> Model) {
        self.name = name; self.summary = summary; self.taps = taps
        self.threshold = threshold; self.alpha = alpha; self.analysedInput = analysedInput
        self.pretrained = pretrained; self.make = make
    }

    /// A classification family built from (input shape, classes, width, seed).
    public init(name: String, summary: String, taps: [String], threshold: Double? = nil, alpha: Float? = nil,
                build: @escaping (_ inputShape: [Int], _ classes: Int, _ width: Double, _ seed: UInt64) throws -> Model) {
        self.init(name: name, summary: summary, taps: taps, threshold: threshold, alpha: alpha) { r in
            try build(r.inputShape, r.outputs, r.width, r.seed)
        }
    }

    /// Builds a freshly initialised classification network for samples of `inputShape`.
    public func build(_ inputShape: [Int], _ classes: Int, _ width: Double, _ seed: UInt64) throws -> Model {
        try make(ModelRequest(inputShape: inputShape, task: .classification(classes: classes), width: width, seed: seed))
    }
}

/// An opened dataset: samples as the engine sees them.
///
/// Rules: `sample` is deterministic (same split and index → same sample), every sample has
/// `sampleShape` (padded, with `length` set, when its real size is smaller), its unit map covers every
/// variable, its roles have one entry per unit (padding is `.ignored`), and its target fits `task` (a
/// label in `0..<classNames.count`, or a span inside the sample's length). A bad member throws an error naming the file and member; the
/// caller reports and skips it.
public protocol DatasetSource: AnyObject {
    /// A human-readable name, e.g. "CUB-200-2011 (crops by box, fg from masks)".
    var name: String { get }
    /// True for composited data (objects pasted on photographs): every output says so.
    var isComposite: Bool { get }
    var classNames: [String] { get }
    /// The shape of one sample's input tensor; samples of varying size are padded to it (Sample.length).
    var sampleShape: [Int] { get }
    /// Classification over `classNames` (the default) or span extraction.
    var task: TaskKind { get }
    /// What a family builder may need from the data (e.g. "vocabulary-size").
    var modelResources: [String: String] { get }
    /// Settings that shaped the samples (grid size, fg rule, normalisation…), recorded with every result.
    var settings: [String: String] { get }
    func count(_ split: Split) -> Int
    func sample(_ split: Split, _ index: Int) throws -> Sample
    /// Records left out while reading (bad members, boxes outside the image, …), one line each naming the
    /// file, member and reason. Listed in every study's output; never silently dropped.
    var problems: [String] { get }
}

extension DatasetSource {
    public var problems: [String] { [] }
    public var task: TaskKind { .classification(classes: classNames.count) }
    public var modelResources: [String: String] { [:] }
}

/// A modality: recognises and reads its archives, turns samples into tensors with units and fg/bg
/// labels, and offers model families with default taps and thresholds.
///
/// Rules every implementation follows (checked by the shared conformance test, `PluginConformance`):
/// - `recognise` looks at the file's *content*, never only its name; it is cheap and never throws:
///   it returns the name of the format it recognised, or nil.
/// - `open` throws a typed error naming the file, what was expected, what was found and what to do; it
///   rejects option names it does not declare in `options`.
/// - `families` is non-empty; each family's taps exist in the models it builds; `defaults.family` is one
///   of them.
/// - A plugin depends only on Core (and Datasets for file access) and registers in one place.
public protocol ModalityPlugin: AnyObject {
    var name: String { get }
    var summary: String { get }
    var defaults: PluginDefaults { get }
    var families: [ModelFamily] { get }
    var options: [PluginOption] { get }
    /// A paragraph for `kd-tool plugins` and `kd-tool analyze --help`: the formats read, the options that
    /// matter most, the taps of its families.
    var help: String { get }
    func recognise(_ path: String) -> String?
    func open(_ path: String, options: [String: String]) throws -> DatasetSource
}

extension ModalityPlugin {
    public var help: String { summary }

    /// The family named `name`; an unknown name throws an error that lists the known ones.
    public func family(_ name: String) throws -> ModelFamily {
        guard let f = families.first(where: { $0.name == name }) else {
            throw PluginError.unknownFamily(name, plugin: self.name, known: families.map(\.name))
        }
        return f
    }

    /// Validates `given` against `options` and fills in defaults.
    public func resolveOptions(_ given: [String: String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for o in options { out[o.name] = o.defaultValue }
        for (k, v) in given {
            guard out[k] != nil else {
                throw PluginError.unknownOption(k, plugin: name, known: options.map(\.name))
            }
            out[k] = v
        }
        return out
    }
}

public enum PluginError: Error, CustomStringConvertible, Equatable {
    case unknownPlugin(String, known: [String])
    case unknownFamily(String, plugin: String, known: [String])
    case unknownOption(String, plugin: String, known: [String])
    case badOption(String, plugin: String, value: String, expected: String)
    case unrecognised(path: String, tried: [String])
    case duplicate(String)

    public var description: String {
        switch self {
        case let .unknownPlugin(n, known):
            return "no plugin named '\(n)'; known plugins: \(known.joined(separator: ", "))"
        case let .unknownFamily(n, p, known):
            return "plugin \(p) has no model family '\(n)'; its families: \(known.joined(separator: ", "))"
        case let .unknownOption(n, p, known):
            return "plugin \(p) has no option '\(n)'; its options: \(known.joined(separator: ", "))"
        case let .badOption(n, p, v, e):
            return "plugin \(p): option \(n)=\(v) is not valid: expected \(e)"
        case let .unrecognised(path, tried):
            return "\(path): no plugin recognises this file (tried \(tried.joined(separator: ", "))). Is it one of the dataset archives listed by `kd-tool plugins`?"
        case let .duplicate(n):
            return "a plugin named '\(n)' is already registered"
        }
    }
}

/// Plugins by name. Registration is explicit, in one place (the tool's `Registration.swift`).
public final class PluginRegistry {
    public private(set) var plugins: [ModalityPlugin] = []
    public init() {}

    public func register(_ plugin: ModalityPlugin) throws {
        guard !plugins.contains(where: { $0.name == plugin.name }) else { throw PluginError.duplicate(plugin.name) }
        plugins.append(plugin)
    }

    public var names: [String] { plugins.map(\.name) }

    public func plugin(named name: String) throws -> ModalityPlugin {
        guard let p = plugins.first(where: { $0.name == name }) else {
            throw PluginError.unknownPlugin(name, known: names)
        }
        return p
    }

    /// The first plugin that recognises the file's content, with the format it named.
    public func recognise(_ path: String) throws -> (plugin: ModalityPlugin, format: String) {
        for p in plugins { if let f = p.recognise(path) { return (p, f) } }
        throw PluginError.unrecognised(path: path, tried: names)
    }
}
