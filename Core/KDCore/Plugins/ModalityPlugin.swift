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

/// Defaults a plugin offers for its modality (Method.md §3: b = 0.2 for images and text, …).
public struct PluginDefaults: Codable, Sendable, Equatable {
    /// Knowledge-point threshold b, nats.
    public var threshold: Double
    /// Entropy weight α.
    public var alpha: Float
    /// The model family used when none is named.
    public var family: String
    public init(threshold: Double, alpha: Float, family: String) {
        self.threshold = threshold; self.alpha = alpha; self.family = family
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
    /// Builds a freshly initialised network for samples of `inputShape` (no batch axis) and `classes`
    /// outputs. `width` scales channel counts (1 = the family's standard size; students may be smaller).
    public let build: (_ inputShape: [Int], _ classes: Int, _ width: Double, _ seed: UInt64) throws -> Model

    public init(name: String, summary: String, taps: [String], threshold: Double? = nil, alpha: Float? = nil,
                build: @escaping (_ inputShape: [Int], _ classes: Int, _ width: Double, _ seed: UInt64) throws -> Model) {
        self.name = name; self.summary = summary; self.taps = taps
        self.threshold = threshold; self.alpha = alpha; self.build = build
    }
}

/// An opened dataset: samples as the engine sees them.
///
/// Rules: `sample` is deterministic (same split and index → same sample), every sample has
/// `sampleShape`, its unit map covers every variable, its fg labels have one entry per unit and its
/// label is in `0..<classNames.count`. A bad member throws an error naming the file and member; the
/// caller reports and skips it.
public protocol DatasetSource: AnyObject {
    /// A human-readable name, e.g. "CUB-200-2011 (crops by box, fg from masks)".
    var name: String { get }
    /// True for composited data (objects pasted on photographs): every output says so.
    var isComposite: Bool { get }
    var classNames: [String] { get }
    /// The shape of one sample's input tensor.
    var sampleShape: [Int] { get }
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
    func recognise(_ path: String) -> String?
    func open(_ path: String, options: [String: String]) throws -> DatasetSource
}

extension ModalityPlugin {
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
