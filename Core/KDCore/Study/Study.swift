import Foundation

/// A teacher–student–baseline study, end to end (Architecture.md "How data flows"): train the three
/// networks with dense checkpoints, analyse a fixed set of inputs at every checkpoint of the student
/// (distillation stage) and the baseline, and compute the metrics and hypotheses.
///
/// ``run()`` is a sequence of named steps, each of which can also be called alone (a sharded experiment
/// runs one kind of step per process): ``prepareData()``, ``validateSettings()``, ``trainTeacher()``,
/// ``trainBaseline()``, ``trainStudents()``, ``measureAccuracy()``, ``analyseMaps()``, ``summarise(_:)``.
/// A step runs the steps it depends on when they have not run yet (training resumes as complete, so a
/// trained network is loaded, not trained again).
///
/// Resumable: training resumes from the last completed epoch, and entropy maps already in the results
/// store (`results.sqlite`) are not computed again, so an interrupted run loses no finished work.
public final class Study {
    public let config: StudyConfig
    public let family: ModelFamily
    public let data: DatasetSource
    public let folder: URL
    /// Progress lines (already formatted); the CLI prints them to stderr.
    public var log: (String) -> Void = { _ in }
    /// Structured progress: one event per finished training epoch and per finished (or already stored)
    /// entropy map, for a display to render. The `log` lines are emitted as well.
    public var progress: ((StudyProgress) -> Void)? = nil
    /// Random transformations of every training batch (a plugin's ``TrainingAugmenting``), nil for none.
    /// Its description is part of the run's recorded identity.
    public var augmentation: BatchAugmentation? = nil
    /// Where the dataset was read from (the path given to the plugin), recorded in `study.json` so later
    /// commands can open the same data; nil when the caller does not say.
    public var datasetPath: String? = nil
    /// When set, this process is one shard of a sharded run: its maps go to its own store file and it
    /// takes its own lock, so several shards can work in one study folder at the same time
    /// (``StudyShard``). Nil (the default) uses `results.sqlite` and the folder's lock.
    /// Changing it closes an open store, so later steps use the right store and lock.
    public var shard: StudyShard? = nil {
        didSet { if oldValue != shard { close() } }
    }
    /// Written into the store's metadata when the run is registered (e.g. the experiment's identity), so
    /// `kd-tool merge` can refuse stores of different experiments.
    public var storeMetadata: [String: String] = [:]
    /// The networks this process may train; any other network the steps need must be trained already (its
    /// final checkpoint is loaded, nothing is written), else ``StudyError/notTrained(network:folder:)``.
    /// Nil (the default) trains whatever is needed. A sharded stage sets it to its own items.
    public var trainsOnly: Set<String>? = nil

    // State shared by the steps (each step fills its part once).
    var session: (lock: RunFolderLock, store: ResultsStore)?
    var prepared: PreparedData?
    var validated = false
    var teacherResolved = false
    var teacherModel: Model?
    var baselineModel: Model?
    var trainedStudents: [String: TrainedStudent] = [:]
    var accuracy: [String: Double]?
    var seconds: [String: Double] = [:]
    /// Inputs whose map could not be computed at some checkpoint: left out of every comparison.
    var failedInputs = Set<String>()
    var failedMaps: [String] = []
    var mapsDone = 0
    /// The run's name in the store.
    let runName = "study"

    public init(config: StudyConfig, family: ModelFamily, data: DatasetSource, folder: URL) throws {
        try config.validate()
        self.config = config
        self.family = family
        self.data = data
        self.folder = folder
    }

    deinit { close() }

    /// What a study produces. Everything is Codable and written to `study.json`.
    public struct Outcome: Codable {
        public var config: StudyConfig
        public var dataset: String
        /// Where the dataset was read from (``Study/datasetPath``); nil in files written before it was recorded.
        public var datasetPath: String? = nil
        public var datasetIsComposite: Bool
        public var datasetSettings: [String: String]
        public var classes: [String]
        public var trainSamples: [String: Int]
        public var testSamples: Int
        public var skippedSamples: [String]
        public var accuracy: [String: Double]
        public var analysedEpochs: [String: [Int]]
        public var failedMaps: [String]
        public var flaggedMaps: [String: Int]
        public var comparison: MetricsComparison
        public var seconds: [String: Double]
        /// The analysed inputs, in order, and for heat maps the final maps of every analysed network.
        public var inputIDs: [String]
        /// The test-split index of each analysed input.
        public var inputIndices: [Int]
        /// The final map of every analysed network, by network and input id (inputs whose map failed are
        /// absent), full length: ignored units carry 0.
        public var finalMaps: [String: [String: [Float]]]
        /// The dataset-level H̄ of each network's final maps (the mean of per-input background means over the
        /// inputs the metrics keep), when the metrics use it; pictures mark knowledge points against it.
        public var datasetBaselines: [String: Double]
        /// The training augmentation, when there was one (Study.augmentation).
        public var augmentation: String? = nil
        /// One entry per method of ``StudyConfig/methods``, in order; `comparison` is the first one's.
        public var methods: [MethodResult]
        /// Per network and weight-distance definition (`epoch`, `path`): the cumulative distance from w₀ at
        /// each analysed checkpoint (Method.md §4). The table's D uses `config.metrics.weightDistance`.
        public var weightDistances: [String: [String: [Double]]]
        /// What could not be measured and why (e.g. D and ρ of a network brought as one final checkpoint);
        /// nil when everything was measured.
        public var notes: [String]? = nil
        /// The libraries that computed the numbers in the process that summarised them (``BLAS/computeSummary``,
        /// e.g. "gemm=onednn conv=onednn"): they change float rounding only. nil in files written before.
        public var compute: String? = nil
    }

    /// The whole study: every step in order. Releases the folder's lock and store when done.
    public func run() throws -> Outcome {
        defer { close() }
        _ = try ready()
        _ = try trainTeacher()
        _ = try trainBaseline()
        _ = try trainStudents()
        _ = try measureAccuracy()
        let maps = try analyseMaps()
        return try summarise(maps)
    }

    /// The network (and folder) name of a method's student: `student` for the paper's study with its one
    /// default method, `student-<id>` otherwise.
    public static func networkName(_ method: DistillationMethod, config: StudyConfig) -> String {
        config.methods == [.paper] ? "student" : "student-\(method.id)"
    }

    /// One method's student, compared with the baseline.
    public struct MethodResult: Codable, Equatable {
        public var method: DistillationMethod
        /// The student's network name (`student` or `student-<id>`), also its folder.
        public var network: String
        /// The analysed stage folder (stage1/stage2) of a two-stage method; nil for one-stage methods.
        public var analysedStage: String?
        public var comparison: MetricsComparison
        public var accuracy: Double
    }

    // MARK: - The run folder

    /// Takes the folder's lock (the shard's own lock for a shard) and opens its results store; idempotent.
    func open() throws -> ResultsStore {
        if let s = session { return s.store }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // One run per folder (per shard) at a time: a second process is refused, not allowed to corrupt the store.
        let lock = try RunFolderLock(folder: folder.path, fileName: shard?.lockFileName ?? RunFolderLock.fileName)
        do {
            let store = try ResultsStore(path: folder.appendingPathComponent(shard?.storeFileName ?? ResultsStore.fileName).path)
            session = (lock, store)
            return store
        } catch {
            lock.release()
            throw error
        }
    }

    /// Closes the store and releases the lock (idempotent); a later step opens them again.
    public func close() {
        session?.store.close()
        session?.lock.release()
        session = nil
    }

    /// Opens the folder, prepares the data and checks every setting, then registers the run: what every
    /// other step needs first. Runs once.
    @discardableResult
    func ready() throws -> ResultsStore {
        let store = try open()
        if !validated {
            _ = try prepareData()
            try validateSettings()
            // Recorded only once the settings are known to be usable, so a refused run leaves the folder free.
            try register(runName, in: store)
            validated = true
        }
        return store
    }

    /// Runs `body`, adding its duration to `seconds[name]`.
    func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let t0 = Date()
        defer { seconds[name, default: 0] += Date().timeIntervalSince(t0) }
        return try body()
    }
}

/// One of N disjoint slices of a sharded run (`--shard I/N`): where its maps and its lock live.
public struct StudyShard: Equatable, Sendable, CustomStringConvertible {
    /// 1-based.
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, index >= 1, index <= count else {
            throw StudyError.invalidConfig(["--shard must be I/N with 1 ≤ I ≤ N, got \(index)/\(count)"])
        }
        self.index = index
        self.count = count
    }

    /// The shard's results store in a study folder: `results.shard-I-of-N.sqlite`.
    public var storeFileName: String { "results.shard-\(index)-of-\(count).sqlite" }
    /// The shard's lock file: `.kd-tool.shard-I-of-N.lock`.
    public var lockFileName: String { ".kd-tool.shard-\(index)-of-\(count).lock" }
    public var description: String { "\(index)/\(count)" }

    /// Whether the item at `position` (0-based, in the fixed enumeration order) belongs to this shard.
    public func takes(_ position: Int) -> Bool { position % count == index - 1 }

    /// The shard (1-based) that takes the item at `position` among `count` shards.
    public static func owner(of position: Int, count: Int) -> Int { position % count + 1 }
}
