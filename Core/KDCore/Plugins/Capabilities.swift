// Optional plugin capabilities: small protocols a plugin adopts when it has something to offer. The
// dispatcher (KDToolKit) discovers them with `as?` and never names a plugin.
import Foundation

// MARK: - Pictures of results

/// One network's result on one input, to be drawn.
public struct ResultPanel: Sendable {
    /// A short title, e.g. "S E14" (network and checkpoint).
    public var title: String
    /// H_i per unit, nats (ignored units carry 0 and are not drawn as results).
    public var entropies: [Float]
    /// Whether each unit is a knowledge point (Docs/Method.md §3).
    public var knowledgePoints: [Bool]

    public init(title: String, entropies: [Float], knowledgePoints: [Bool]) {
        self.title = title; self.entropies = entropies; self.knowledgePoints = knowledgePoints
    }
}

/// Draws an analysed input with its results: heat maps for images, coloured point clouds, shaded sentences.
public protocol ResultPictures {
    /// PNG bytes showing `sample` (as read from `source`) with one panel per network.
    func picture(of sample: Sample, from source: DatasetSource, panels: [ResultPanel]) throws -> [UInt8]
}

// MARK: - Dataset builders

/// A derived dataset a plugin can build (`kd-tool dataset NAME --output FILE --option k=v …`): composites of
/// objects on photographs, point clouds with injected background, …
public struct DatasetBuilder: @unchecked Sendable {
    public let name: String
    /// One sentence for `kd-tool dataset --help`.
    public let summary: String
    /// A paragraph: sources, what the output is and is not (e.g. "a COMPOSITE, not CUB-200-2011").
    public let discussion: String
    public let options: [PluginOption]
    /// Builds the dataset at `output` with resolved options (every declared option present), reporting
    /// progress lines through `log`; returns the lines to print when done.
    public let build: (_ options: [String: String], _ output: String, _ log: @escaping (String) -> Void) throws -> [String]

    public init(name: String, summary: String, discussion: String, options: [PluginOption],
                build: @escaping (_ options: [String: String], _ output: String, _ log: @escaping (String) -> Void) throws -> [String]) {
        self.name = name; self.summary = summary; self.discussion = discussion; self.options = options; self.build = build
    }

    /// Fills in defaults and rejects option names the builder does not declare.
    public func resolve(_ given: [String: String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for o in options { out[o.name] = o.defaultValue }
        for (k, v) in given {
            guard out[k] != nil else { throw PluginError.unknownOption(k, plugin: "dataset \(name)", known: options.map(\.name)) }
            out[k] = v
        }
        return out
    }
}

/// A plugin that builds derived datasets.
public protocol DatasetBuilding {
    var datasetBuilders: [DatasetBuilder] { get }
}

// MARK: - Training-time augmentation

/// Random transformations applied to each training batch (never to analysed inputs), e.g. a rotation of a
/// point cloud about the up axis. Its description is recorded in the run's settings.
public protocol TrainingAugmenting {
    /// Options that turn augmentations on (`augment-rotate=true`), part of `options`.
    var augmentationOptions: [PluginOption] { get }
    /// The augmentation the resolved options ask for, or nil for none.
    func augmentation(_ options: [String: String]) throws -> BatchAugmentation?
}

/// Transforms a batch in place: `x` is (B, sample shape), `lengths` the real positions per sample, if any.
public struct BatchAugmentation: @unchecked Sendable {
    /// Recorded in the run's settings, e.g. "rotate-up(z) jitter(σ=0.01, clip 0.05)".
    public let description: String
    public let apply: (_ x: Tensor, _ lengths: [Int]?, _ generator: inout SeededGenerator) -> Void
    public init(description: String, apply: @escaping (_ x: Tensor, _ lengths: [Int]?, _ generator: inout SeededGenerator) -> Void) {
        self.description = description; self.apply = apply
    }
}

// MARK: - Default runs (`kd-tool quickstart NAME`)

/// A complete study a plugin can run with no arguments: the data it prepares, the options it opens the data
/// with, and the study settings (sizes chosen to finish in minutes on two cores; all recorded).
public struct DefaultRun: @unchecked Sendable {
    public let name: String
    /// One sentence for `kd-tool quickstart --help`.
    public let summary: String
    /// Prepares (once) the dataset in `dataFolder` and returns its path; idempotent.
    public let prepare: (_ dataFolder: URL, _ log: @escaping (String) -> Void) throws -> String
    /// Plugin options to open the prepared data with.
    public let options: [String: String]
    /// The model family.
    public let family: String
    /// The study settings, given the plugin's defaults already applied.
    public let configure: (inout StudyConfig) -> Void

    public init(name: String, summary: String, family: String, options: [String: String],
                prepare: @escaping (_ dataFolder: URL, _ log: @escaping (String) -> Void) throws -> String,
                configure: @escaping (inout StudyConfig) -> Void) {
        self.name = name; self.summary = summary; self.family = family; self.options = options
        self.prepare = prepare; self.configure = configure
    }
}

/// A plugin that offers default runs; the first run of the first registered plugin is `kd-tool quickstart`'s.
public protocol DefaultRuns {
    var defaultRuns: [DefaultRun] { get }
}

// MARK: - Checking files (`kd-tool check PATH`)

/// What a plugin found in one file it claims: the format, lines describing the content, and every problem
/// (one line each naming the file, member, line or record, and the reason; excerpts short).
public struct FileCheckReport: Sendable, Equatable {
    /// The format recognised, e.g. "JPEG image" or "IDX array".
    public var format: String
    /// What was found (sizes, counts, names), one line each.
    public var found: [String]
    /// Bad records and damage, one line each; any problem makes `kd-tool check` exit non-zero.
    public var problems: [String]
    /// True when the file cannot be used at all (as opposed to holding some bad records).
    public var refused: Bool

    public init(format: String, found: [String] = [], problems: [String] = [], refused: Bool = false) {
        self.format = format; self.found = found; self.problems = problems; self.refused = refused
    }
}

/// A plugin that checks single files of its modality that are not datasets on their own (a photograph, an
/// annotation, one array file), for `kd-tool check`. Datasets are checked through `recognise` and `open`.
public protocol FileChecking {
    /// The report on `path`, or nil when the file is not one of this plugin's formats (decided from its
    /// content, cheaply; never throws). Reads the whole file when it is one.
    func check(_ path: String) -> FileCheckReport?
}
