// The results store: an embedded SQLite database of runs and entropy maps, so a long analysis can
// stop at any point and resume by skipping the maps already computed.

import Foundation
import _CSQLite

/// Identifies one entropy map: which run, network, tap and engine settings, which checkpoint, which input.
public struct EntropyMapKey: Hashable, Codable, Sendable {
    public var run: String
    /// "teacher", "student", "baseline", …
    public var network: String
    public var tap: String
    /// A hash of the entropy engine's settings; maps computed under other settings never match.
    public var settingsHash: String
    public var epoch: Int
    public var inputID: String

    public init(run: String, network: String, tap: String, settingsHash: String, epoch: Int, inputID: String) {
        self.run = run; self.network = network; self.tap = tap; self.settingsHash = settingsHash
        self.epoch = epoch; self.inputID = inputID
    }
}

/// One stored result of the entropy engine (Method.md §2): the map and how it was obtained.
public struct StoredEntropyMap: Sendable, Equatable {
    public var key: EntropyMapKey
    /// H_i in nats, one per unit; stored as Float32 little-endian, so it reads back bit for bit.
    public var entropies: [Float]
    /// The fg flags of the units, when known (needed by the metrics).
    public var foreground: [Bool]?
    /// σ_f² (δ_f² of Method.md §2): the feature's mean squared change under noise of scale τ.
    public var featureVariance: Double
    public var finalLoss: Double
    /// The α of the returned snapshot (after entropy pinning raised it, if it did).
    public var alpha: Double
    /// The optimiser step whose σ was returned.
    public var chosenStep: Int
    /// The mean of `entropies` (nats).
    public var meanEntropy: Double
    /// Whether the loss had flattened by the end of the budget.
    public var lossFlattened: Bool
    /// Whether the pinning target was reached; nil when pinning was off.
    public var targetReached: Bool?

    public init(key: EntropyMapKey, entropies: [Float], foreground: [Bool]?, featureVariance: Double,
                finalLoss: Double, alpha: Double, chosenStep: Int, meanEntropy: Double,
                lossFlattened: Bool, targetReached: Bool?) {
        precondition(!entropies.isEmpty, "an entropy map has at least one unit")
        precondition(foreground == nil || foreground!.count == entropies.count, "fg flags and entropies differ in length")
        self.key = key; self.entropies = entropies; self.foreground = foreground
        self.featureVariance = featureVariance; self.finalLoss = finalLoss; self.alpha = alpha
        self.chosenStep = chosenStep; self.meanEntropy = meanEntropy
        self.lossFlattened = lossFlattened; self.targetReached = targetReached
    }

    /// The map as the metrics take it; nil when the fg flags were not stored.
    public var entropyMap: EntropyMap? {
        foreground.map { EntropyMap(inputID: key.inputID, epoch: key.epoch, entropies: entropies, foreground: $0) }
    }
}

/// Errors of the results store. Every case names the database file.
public enum ResultsStoreError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, message: String)
    case notADatabase(path: String)
    case corrupt(path: String, message: String)
    case notAResultsStore(path: String, applicationID: Int32)
    case schemaVersionMismatch(path: String, expected: Int32, found: Int32)
    case locked(path: String, operation: String)
    case runSettingsDiffer(path: String, run: String)
    case invalidRecord(path: String, key: EntropyMapKey, problem: String)
    case sqlite(path: String, operation: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case let .cannotOpen(p, m):
            return "cannot open the results store \(p): \(m); check the directory exists and is writable"
        case let .notADatabase(p):
            return "\(p) is not an SQLite database (expected a kd-tool results store); move it away or choose another --store path"
        case let .corrupt(p, m):
            return "the results store \(p) is corrupt (\(m)); restore it from a copy or delete it and re-run the analysis"
        case let .notAResultsStore(p, id):
            return "\(p) is an SQLite database of another application (application_id \(id), expected \(ResultsStore.applicationID)); choose another --store path"
        case let .schemaVersionMismatch(p, e, f):
            return "the results store \(p) has schema version \(f), this kd-tool reads version \(e); use the kd-tool that wrote it or start a new store"
        case let .locked(p, op):
            return "the results store \(p) is locked by another process (\(op)); wait for it to finish or use another store"
        case let .runSettingsDiffer(p, r):
            return "run '\(r)' in \(p) was started with other settings; resume it with its own settings or name a new run"
        case let .invalidRecord(p, k, problem):
            return "the results store \(p) holds a damaged map (run \(k.run), \(k.network), tap \(k.tap), epoch \(k.epoch), input \(k.inputID)): \(problem); delete the run and recompute"
        case let .sqlite(p, op, c, m):
            return "results store \(p): \(op) failed with SQLite error \(c): \(m)"
        }
    }
}

/// An embedded SQLite results store (WAL mode, durable commits), safe to share between threads.
///
/// Every write is one transaction committed with `synchronous = FULL`, so a map that `putMap` returned
/// for survives a crash or power loss, and a killed analysis resumes from `hasMap`. Access is serialised
/// by a lock: the entropy engine writes from several threads through one store. Another process holding
/// the write lock is waited for up to `busyTimeout`, then reported as ``ResultsStoreError/locked(path:operation:)``.
///
/// Schema (version 1): `runs(run, settings_json, created)` and `entropy_maps(run, network, tap,
/// settings_hash, epoch, input_id, unit_count, entropies BLOB Float32 LE, foreground BLOB of 0/1 bytes,
/// sigma_f2, final_loss, alpha, chosen_step, mean_entropy, loss_flattened, target_reached, created)`.
public final class ResultsStore: @unchecked Sendable {
    /// PRAGMA application_id of kd-tool stores: "KDTL".
    public static let applicationID: Int32 = 0x4B44_544C
    public static let schemaVersion: Int32 = 1

    public let path: String
    var db: OpaquePointer?
    let lock = NSLock()

    /// Opens the store at `path`, creating it when the file does not exist or is empty.
    public init(path: String, busyTimeout: TimeInterval = 5) throws {
        self.path = path
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(handle)
            throw ResultsStoreError.cannotOpen(path: path, message: message)
        }
        db = handle
        sqlite3_busy_timeout(handle, Int32(max(0, busyTimeout * 1000)))
        do {
            try prepareSchema()
        } catch {
            sqlite3_close(handle)
            db = nil
            throw error
        }
    }

    deinit { sqlite3_close(db) }

    /// Closes the database; later calls are programmer errors.
    public func close() {
        lock.lock(); defer { lock.unlock() }
        sqlite3_close(db)
        db = nil
    }

    // MARK: - Runs

    /// Records a run and its settings (JSON). Registering the same run again with the same settings is a
    /// no-op (resuming); with different settings it throws, so maps of two configurations never mix.
    public func registerRun(_ run: String, settingsJSON: String) throws {
        try locked {
            try transaction("register run") {
                if let existing = try runSettingsUnlocked(run) {
                    guard existing == settingsJSON else { throw ResultsStoreError.runSettingsDiffer(path: path, run: run) }
                    return
                }
                let s = try prepare("INSERT INTO runs(run, settings_json) VALUES (?, ?)", "register run")
                defer { sqlite3_finalize(s) }
                bind(s, 1, run); bind(s, 2, settingsJSON)
                try stepDone(s, "register run")
            }
        }
    }

    /// The settings JSON of a run; nil when the run is unknown.
    public func runSettings(_ run: String) throws -> String? {
        try locked { try runSettingsUnlocked(run) }
    }

    /// All runs, by name.
    public func runs() throws -> [String] {
        try locked {
            let s = try prepare("SELECT run FROM runs ORDER BY run", "list runs")
            defer { sqlite3_finalize(s) }
            var out: [String] = []
            while try stepRow(s, "list runs") { out.append(text(s, 0)) }
            return out
        }
    }

    // MARK: - Metadata

    /// The file name of a study folder's store.
    public static let fileName = "results.sqlite"
    /// The metadata key under which a study records the settings hash of its maps.
    public static let settingsHashKey = "settings-hash"
    /// The metadata key under which an experiment run records its identity (a hash of its resolved file).
    public static let experimentKey = "experiment"

    /// Records a key–value note about the store's contents (e.g. which experiment and settings wrote it).
    public func setMetadata(_ key: String, _ value: String) throws {
        try locked {
            let s = try prepare("INSERT OR REPLACE INTO metadata(key, value) VALUES (?, ?)", "record metadata")
            defer { sqlite3_finalize(s) }
            bind(s, 1, key); bind(s, 2, value)
            try stepDone(s, "record metadata")
        }
    }

    /// Every metadata note, by key.
    public func metadata() throws -> [String: String] {
        try locked {
            let s = try prepare("SELECT key, value FROM metadata", "read metadata")
            defer { sqlite3_finalize(s) }
            var out: [String: String] = [:]
            while try stepRow(s, "read metadata") { out[text(s, 0)] = text(s, 1) }
            return out
        }
    }

    // MARK: - Entropy maps

    /// Whether the map of `key` has been stored.
    public func hasMap(_ key: EntropyMapKey) throws -> Bool {
        try locked {
            let s = try prepare("SELECT 1 FROM entropy_maps WHERE " + Self.keyWhere, "look up a map")
            defer { sqlite3_finalize(s) }
            bindKey(s, key)
            return try stepRow(s, "look up a map")
        }
    }

    /// Stores one map (replacing one with the same key) in its own durable transaction.
    public func putMap(_ map: StoredEntropyMap) throws { try putMaps([map]) }

    /// Stores several maps in one durable transaction: all or none.
    public func putMaps(_ maps: [StoredEntropyMap]) throws {
        try locked {
            try transaction("store maps") {
                let s = try prepare("""
                    INSERT OR REPLACE INTO entropy_maps(run, network, tap, settings_hash, epoch, input_id, unit_count,
                        entropies, foreground, sigma_f2, final_loss, alpha, chosen_step, mean_entropy, loss_flattened, target_reached)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, "store maps")
                defer { sqlite3_finalize(s) }
                for m in maps {
                    sqlite3_reset(s)
                    sqlite3_clear_bindings(s)
                    bindKey(s, m.key)
                    sqlite3_bind_int64(s, 7, Int64(m.entropies.count))
                    bind(s, 8, Self.encode(m.entropies))
                    if let fg = m.foreground { bind(s, 9, fg.map { $0 ? UInt8(1) : 0 }) } else { sqlite3_bind_null(s, 9) }
                    sqlite3_bind_double(s, 10, m.featureVariance)
                    sqlite3_bind_double(s, 11, m.finalLoss)
                    sqlite3_bind_double(s, 12, m.alpha)
                    sqlite3_bind_int64(s, 13, Int64(m.chosenStep))
                    sqlite3_bind_double(s, 14, m.meanEntropy)
                    sqlite3_bind_int(s, 15, m.lossFlattened ? 1 : 0)
                    if let t = m.targetReached { sqlite3_bind_int(s, 16, t ? 1 : 0) } else { sqlite3_bind_null(s, 16) }
                    try stepDone(s, "store maps")
                }
            }
        }
    }

    /// The map of `key`; nil when it has not been stored.
    public func map(_ key: EntropyMapKey) throws -> StoredEntropyMap? {
        try locked {
            let s = try prepare("SELECT " + Self.mapColumns + " FROM entropy_maps WHERE " + Self.keyWhere, "read a map")
            defer { sqlite3_finalize(s) }
            bindKey(s, key)
            return try stepRow(s, "read a map") ? try readMap(s) : nil
        }
    }

    /// The keys stored for a run, optionally narrowed; ordered by network, tap, settings, epoch, input.
    public func mapKeys(run: String, network: String? = nil, tap: String? = nil, settingsHash: String? = nil) throws -> [EntropyMapKey] {
        try locked {
            let s = try prepare("SELECT run, network, tap, settings_hash, epoch, input_id FROM entropy_maps WHERE "
                                + Self.filterWhere + " ORDER BY network, tap, settings_hash, epoch, input_id", "list maps")
            defer { sqlite3_finalize(s) }
            bindFilter(s, run, network, tap, settingsHash)
            var out: [EntropyMapKey] = []
            while try stepRow(s, "list maps") { out.append(readKey(s)) }
            return out
        }
    }

    /// Every map of one network, tap and engine setting in a run, ordered by epoch then input.
    public func maps(run: String, network: String, tap: String, settingsHash: String) throws -> [StoredEntropyMap] {
        try locked {
            let s = try prepare("SELECT " + Self.mapColumns + " FROM entropy_maps WHERE " + Self.filterWhere
                                + " ORDER BY epoch, input_id", "read maps")
            defer { sqlite3_finalize(s) }
            bindFilter(s, run, network, tap, settingsHash)
            var out: [StoredEntropyMap] = []
            while try stepRow(s, "read maps") { out.append(try readMap(s)) }
            return out
        }
    }

    // MARK: - Schema

    private func prepareSchema() throws {
        // The first statement reads the file header: a file that is not SQLite fails here with SQLITE_NOTADB.
        let mode = try queryText("PRAGMA journal_mode=WAL", "enable WAL")
        guard mode.lowercased() == "wal" else {
            throw ResultsStoreError.sqlite(path: path, operation: "enable WAL", code: SQLITE_ERROR, message: "journal mode stayed \(mode)")
        }
        try exec("PRAGMA synchronous=FULL", "set durability")
        // Created under the write lock, re-checked inside it: two processes opening a new file race safely.
        try transaction("create the schema") {
            if try queryInt("SELECT count(*) FROM sqlite_master", "read the schema") == 0 {
                try exec("""
                    CREATE TABLE runs (
                        run TEXT PRIMARY KEY NOT NULL,
                        settings_json TEXT NOT NULL,
                        created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
                    CREATE TABLE entropy_maps (
                        run TEXT NOT NULL, network TEXT NOT NULL, tap TEXT NOT NULL, settings_hash TEXT NOT NULL,
                        epoch INTEGER NOT NULL, input_id TEXT NOT NULL,
                        unit_count INTEGER NOT NULL, entropies BLOB NOT NULL, foreground BLOB,
                        sigma_f2 REAL NOT NULL, final_loss REAL NOT NULL, alpha REAL NOT NULL,
                        chosen_step INTEGER NOT NULL, mean_entropy REAL NOT NULL,
                        loss_flattened INTEGER NOT NULL, target_reached INTEGER,
                        created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
                        PRIMARY KEY (run, network, tap, settings_hash, epoch, input_id));
                    PRAGMA application_id = \(Self.applicationID);
                    PRAGMA user_version = \(Self.schemaVersion);
                    """, "create the schema")
            }
        }
        let app = Int32(truncatingIfNeeded: try queryInt("PRAGMA application_id", "read the application id"))
        guard app == Self.applicationID else { throw ResultsStoreError.notAResultsStore(path: path, applicationID: app) }
        let version = Int32(truncatingIfNeeded: try queryInt("PRAGMA user_version", "read the schema version"))
        guard version == Self.schemaVersion else {
            throw ResultsStoreError.schemaVersionMismatch(path: path, expected: Self.schemaVersion, found: version)
        }
        // Added after schema version 1 without changing it: older stores gain the table, older kd-tools ignore it.
        try exec("CREATE TABLE IF NOT EXISTS metadata (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)", "create the metadata table")
    }
}
