import Foundation
import KDCore
import Testing
import _CSQLite
import _TestSupport

/// A fresh directory per test, removed afterwards.
private func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kd-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try body(dir)
}

private func key(_ input: String, epoch: Int = 3, network: String = "student") -> EntropyMapKey {
    EntropyMapKey(run: "run-1", network: network, tap: "fc1", settingsHash: "h0", epoch: epoch, inputID: input)
}

private func sampleMap(_ input: String, epoch: Int = 3, network: String = "student", units: Int = 256, seed: UInt64 = 1) -> StoredEntropyMap {
    var g = SeededGenerator(seed: seed)
    var h = (0..<units).map { _ in g.gaussian() * 2 - 3 }
    // Values whose bits a lossy round trip would change: −0, the smallest subnormal, the largest finite.
    h[0] = -0.0; h[1] = .leastNonzeroMagnitude; h[2] = .greatestFiniteMagnitude; h[3] = 1.0 / 3
    return StoredEntropyMap(key: key(input, epoch: epoch, network: network), entropies: h,
                            foreground: (0..<units).map { $0 % 3 == 0 }, featureVariance: 0.0123,
                            finalLoss: -4.5, alpha: 10.5, chosenStep: 59, meanEntropy: -2.81,
                            lossFlattened: true, targetReached: nil)
}

private func expectBitIdentical(_ a: StoredEntropyMap?, _ b: StoredEntropyMap, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a != nil, sourceLocation: sourceLocation)
    guard let a else { return }
    #expect(a.entropies.map(\.bitPattern) == b.entropies.map(\.bitPattern), sourceLocation: sourceLocation)
    #expect(a == b, sourceLocation: sourceLocation)
}

@Suite struct ResultsStoreTests {
    @Test func roundTripIsBitIdenticalAndSurvivesReopening() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("results.sqlite").path
            let m = sampleMap("img#0")
            var other = sampleMap("img#1", epoch: 5, seed: 2)
            other.foreground = nil
            other.targetReached = false
            do {
                let store = try ResultsStore(path: path)
                try store.registerRun("run-1", settingsJSON: #"{"alpha":7}"#)
                #expect(try !store.hasMap(m.key))
                try store.putMap(m)
                try store.putMap(other)
                #expect(try store.hasMap(m.key))
                expectBitIdentical(try store.map(m.key), m)
                #expect(try store.map(key("img#9")) == nil)
            }
            // Reopen: the maps, the run and its settings are there.
            let store = try ResultsStore(path: path)
            expectBitIdentical(try store.map(m.key), m)
            expectBitIdentical(try store.map(other.key), other)
            #expect(try store.runs() == ["run-1"])
            #expect(try store.runSettings("run-1") == #"{"alpha":7}"#)
            #expect(try store.mapKeys(run: "run-1") == [m.key, other.key])
            #expect(try store.mapKeys(run: "run-1", network: "student", tap: "fc1", settingsHash: "h0").count == 2)
            #expect(try store.mapKeys(run: "run-1", tap: "fc2").isEmpty)
            // Replacing a map keeps one row; the metrics' view of a stored map carries its fg flags.
            var replaced = m
            replaced.finalLoss = -5
            try store.putMap(replaced)
            #expect(try store.maps(run: "run-1", network: "student", tap: "fc1", settingsHash: "h0").map(\.finalLoss) == [-5, -4.5])
            #expect(try store.map(m.key)?.entropyMap?.foreground == m.foreground)
            #expect(try store.map(other.key)?.entropyMap == nil)
        }
    }

    @Test func resumingARunNeedsTheSameSettings() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("r.sqlite").path
            let store = try ResultsStore(path: path)
            try store.registerRun("run-1", settingsJSON: "{}")
            try store.registerRun("run-1", settingsJSON: "{}")
            #expect(throws: ResultsStoreError.runSettingsDiffer(path: path, run: "run-1")) {
                try store.registerRun("run-1", settingsJSON: #"{"alpha":6}"#)
            }
        }
    }

    @Test func walModeAndTwoWritingThreads() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("r.sqlite").path
            let store = try ResultsStore(path: path)
            let failures = NSLock()
            var errors: [Error] = []
            DispatchQueue.concurrentPerform(iterations: 2) { thread in
                for i in 0..<25 {
                    do { try store.putMap(sampleMap("t\(thread)-\(i)", units: 16, seed: UInt64(i))) }
                    catch { failures.lock(); errors.append(error); failures.unlock() }
                }
            }
            #expect(errors.isEmpty, "\(errors)")
            #expect(try store.mapKeys(run: "run-1").count == 50)
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
    }

    @Test func aFileThatIsNotADatabaseIsATypedError() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("notes.sqlite").path
            try Data(String(repeating: "these are not the maps you are looking for\n", count: 50).utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: ResultsStoreError.notADatabase(path: path)) { try ResultsStore(path: path) }
            let message = "\(ResultsStoreError.notADatabase(path: path))"
            #expect(message.contains(path))
        }
    }

    @Test func aNewerSchemaIsATypedError() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("r.sqlite").path
            do { _ = try ResultsStore(path: path) }   // created, closed (WAL checkpointed into the file)
            // user_version lives at bytes 60-63 of the database header, big-endian.
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            try handle.seek(toOffset: 60)
            try handle.write(contentsOf: Data([0, 0, 0, 7]))
            try handle.close()
            #expect(throws: ResultsStoreError.schemaVersionMismatch(path: path, expected: 1, found: 7)) {
                try ResultsStore(path: path)
            }
        }
    }

    @Test func anotherApplicationsDatabaseIsRefused() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("other.sqlite").path
            var db: OpaquePointer?
            #expect(sqlite3_open(path, &db) == SQLITE_OK)
            #expect(sqlite3_exec(db, "CREATE TABLE t(x)", nil, nil, nil) == SQLITE_OK)
            sqlite3_close(db)
            #expect(throws: ResultsStoreError.notAResultsStore(path: path, applicationID: 0)) { try ResultsStore(path: path) }
        }
    }

    /// A row whose unit count makes 4 · units wrap to 0 (2⁶²) next to an empty blob must be refused,
    /// not read as a map of 2⁶² units with no data.
    @Test func aHugeUnitCountIsAnInvalidRecord() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("r.sqlite").path
            let m = sampleMap("img#0")
            do { let store = try ResultsStore(path: path); try store.putMap(m) }
            for units: Int64 in [1 << 62, -4, 0, Int64(Int32.max)] {
                var db: OpaquePointer?
                #expect(sqlite3_open(path, &db) == SQLITE_OK)
                #expect(sqlite3_exec(db, "UPDATE entropy_maps SET unit_count = \(units), entropies = x'', foreground = NULL", nil, nil, nil) == SQLITE_OK)
                sqlite3_close(db)
                let store = try ResultsStore(path: path)
                #expect(throws: ResultsStoreError.self) { _ = try store.map(m.key) }
                do { _ = try store.map(m.key) } catch { #expect("\(error)".contains("\(units)")) }
            }
        }
    }

    @Test func aWriteLockHeldElsewhereIsReportedAsLocked() throws {
        try withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("r.sqlite").path
            let store = try ResultsStore(path: path, busyTimeout: 0.05)
            // Another connection (as another process would) holds the write lock.
            var db: OpaquePointer?
            #expect(sqlite3_open(path, &db) == SQLITE_OK)
            defer { sqlite3_close(db) }
            #expect(sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK)
            #expect(throws: ResultsStoreError.locked(path: path, operation: "store maps")) { try store.putMap(sampleMap("x")) }
            #expect(sqlite3_exec(db, "ROLLBACK", nil, nil, nil) == SQLITE_OK)
            try store.putMap(sampleMap("x"))
            #expect(try store.hasMap(key("x")))
        }
    }
}

@Test func storedMapsFeedTheMetrics() throws {
    try withTemporaryDirectory { dir in
        let path = dir.appendingPathComponent("r.sqlite").path
        let store = try ResultsStore(path: path)
        // Two inputs at epochs 1 and 2; H̄ = 0 per input, b = 0.2: x has fg point 0 at 2, y none.
        let flags = [true, false, false]
        for (id, epoch, h) in [("x", 1, [0, 0, 0]), ("x", 2, [-1, 0, 0]), ("y", 1, [0, 0, 0]), ("y", 2, [0, 0, 0])] as [(String, Int, [Float])] {
            try store.putMap(StoredEntropyMap(key: key(id, epoch: epoch), entropies: h, foreground: flags, featureVariance: 1,
                                              finalLoss: 0, alpha: 7, chosenStep: 79, meanEntropy: 0, lossFlattened: true, targetReached: true))
        }
        let set = try EntropyMapSet(store: store, run: "run-1", network: "student", tap: "fc1", settingsHash: "h0")
        #expect(set.inputIDs == ["x", "y"] && set.epochs == [1, 2])
        let r = try KnowledgeMetrics.report(maps: set, settings: MetricSettings())
        #expect(r.foregroundPoints?.value == 0.5 && r.counts.noPoints == 1)
        #expect(throws: MetricsError.noMaps(network: "baseline")) {
            try EntropyMapSet(store: store, run: "run-1", network: "baseline", tap: "fc1", settingsHash: "h0")
        }
    }
}
