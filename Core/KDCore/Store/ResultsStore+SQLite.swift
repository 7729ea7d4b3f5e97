// The results store's SQLite plumbing: statements, bindings, row reading and the byte encoding of maps.

import Foundation
import _CSQLite

extension ResultsStore {
    // MARK: - Encoding

    /// Float32 little-endian bytes, whatever the machine's byte order.
    static func encode(_ values: [Float]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        values.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { dst in
                for i in 0..<src.count { dst.storeBytes(of: src[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
        }
        return bytes
    }

    static func decode(_ raw: UnsafeRawBufferPointer) -> [Float] {
        let n = raw.count / 4
        return [Float](unsafeUninitializedCapacity: n) { out, count in
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            count = n
        }
    }

    // MARK: - SQLite plumbing (callers hold the lock)

    static let keyWhere = "run = ? AND network = ? AND tap = ? AND settings_hash = ? AND epoch = ? AND input_id = ?"
    static let filterWhere = "run = ?1 AND (?2 IS NULL OR network = ?2) AND (?3 IS NULL OR tap = ?3) AND (?4 IS NULL OR settings_hash = ?4)"
    static let mapColumns = """
        run, network, tap, settings_hash, epoch, input_id, unit_count, entropies, foreground,
        sigma_f2, final_loss, alpha, chosen_step, mean_entropy, loss_flattened, target_reached
        """
    /// SQLite copies bound values before the call returns.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        precondition(db != nil, "the results store \(path) was closed")
        return try body()
    }

    func error(_ code: Int32, _ operation: String) -> ResultsStoreError {
        let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection"
        switch code & 0xFF {
        case SQLITE_NOTADB: return .notADatabase(path: path)
        case SQLITE_CORRUPT: return .corrupt(path: path, message: message)
        case SQLITE_BUSY, SQLITE_LOCKED: return .locked(path: path, operation: operation)
        default: return .sqlite(path: path, operation: operation, code: code, message: message)
        }
    }

    func prepare(_ sql: String, _ operation: String) throws -> OpaquePointer {
        var s: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &s, nil)
        guard rc == SQLITE_OK, let s else { sqlite3_finalize(s); throw error(rc, operation) }
        return s
    }

    func exec(_ sql: String, _ operation: String) throws {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, operation) }
    }

    func transaction(_ operation: String, _ body: () throws -> Void) throws {
        try exec("BEGIN IMMEDIATE", operation)
        do {
            try body()
            try exec("COMMIT", operation)
        } catch {
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// Steps once: true for a row, false when done.
    func stepRow(_ s: OpaquePointer, _ operation: String) throws -> Bool {
        let rc = sqlite3_step(s)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw error(rc, operation)
    }

    func stepDone(_ s: OpaquePointer, _ operation: String) throws {
        let rc = sqlite3_step(s)
        guard rc == SQLITE_DONE else { throw error(rc, operation) }
    }

    func queryInt(_ sql: String, _ operation: String) throws -> Int64 {
        let s = try prepare(sql, operation)
        defer { sqlite3_finalize(s) }
        return try stepRow(s, operation) ? sqlite3_column_int64(s, 0) : 0
    }

    func queryText(_ sql: String, _ operation: String) throws -> String {
        let s = try prepare(sql, operation)
        defer { sqlite3_finalize(s) }
        return try stepRow(s, operation) ? text(s, 0) : ""
    }

    func runSettingsUnlocked(_ run: String) throws -> String? {
        let s = try prepare("SELECT settings_json FROM runs WHERE run = ?", "read a run")
        defer { sqlite3_finalize(s) }
        bind(s, 1, run)
        return try stepRow(s, "read a run") ? text(s, 0) : nil
    }

    func bind(_ s: OpaquePointer, _ i: Int32, _ value: String) {
        sqlite3_bind_text(s, i, value, -1, Self.transient)
    }

    func bind(_ s: OpaquePointer, _ i: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { sqlite3_bind_blob(s, i, $0.baseAddress, Int32($0.count), Self.transient) }
    }

    func bindKey(_ s: OpaquePointer, _ k: EntropyMapKey) {
        bind(s, 1, k.run); bind(s, 2, k.network); bind(s, 3, k.tap); bind(s, 4, k.settingsHash)
        sqlite3_bind_int64(s, 5, Int64(k.epoch)); bind(s, 6, k.inputID)
    }

    func bindFilter(_ s: OpaquePointer, _ run: String, _ network: String?, _ tap: String?, _ hash: String?) {
        bind(s, 1, run)
        for (i, v) in [network, tap, hash].enumerated() {
            if let v { bind(s, Int32(i + 2), v) } else { sqlite3_bind_null(s, Int32(i + 2)) }
        }
    }

    func text(_ s: OpaquePointer, _ column: Int32) -> String {
        guard let p = sqlite3_column_text(s, column) else { return "" }
        return String(cString: p)
    }

    func blob(_ s: OpaquePointer, _ column: Int32) -> UnsafeRawBufferPointer? {
        guard sqlite3_column_type(s, column) != SQLITE_NULL else { return nil }
        let p = sqlite3_column_blob(s, column)   // before _bytes, as SQLite documents
        let n = Int(sqlite3_column_bytes(s, column))
        return UnsafeRawBufferPointer(start: p, count: n)
    }

    func readKey(_ s: OpaquePointer) -> EntropyMapKey {
        EntropyMapKey(run: text(s, 0), network: text(s, 1), tap: text(s, 2), settingsHash: text(s, 3),
                      epoch: Int(sqlite3_column_int64(s, 4)), inputID: text(s, 5))
    }

    func readMap(_ s: OpaquePointer) throws -> StoredEntropyMap {
        let key = readKey(s)
        // The unit count is range-checked before it sizes anything: 4 · units must not wrap
        // (release builds are -Ounchecked), and no map has more units than a blob can hold.
        let storedUnits = sqlite3_column_int64(s, 6)
        guard let units = FileNumbers.int(storedUnits, in: 1...(Int(Int32.max) / 4)) else {
            throw ResultsStoreError.invalidRecord(path: path, key: key,
                problem: "the unit count \(storedUnits) is outside 1...\(Int(Int32.max) / 4)")
        }
        guard let raw = blob(s, 7), raw.count == 4 * units else {
            throw ResultsStoreError.invalidRecord(path: path, key: key,
                problem: "expected \(units) Float32 entropies (\(4 * units) bytes), found \(blob(s, 7)?.count ?? 0) bytes")
        }
        let entropies = Self.decode(raw)
        var foreground: [Bool]? = nil
        if let fg = blob(s, 8) {
            guard fg.count == units, fg.allSatisfy({ $0 <= 1 }) else {
                throw ResultsStoreError.invalidRecord(path: path, key: key, problem: "expected \(units) fg flags of 0 or 1, found \(fg.count) bytes")
            }
            foreground = fg.map { $0 == 1 }
        }
        let target: Bool? = sqlite3_column_type(s, 15) == SQLITE_NULL ? nil : sqlite3_column_int(s, 15) != 0
        return StoredEntropyMap(key: key, entropies: entropies, foreground: foreground,
                                featureVariance: sqlite3_column_double(s, 9), finalLoss: sqlite3_column_double(s, 10),
                                alpha: sqlite3_column_double(s, 11), chosenStep: Int(sqlite3_column_int64(s, 12)),
                                meanEntropy: sqlite3_column_double(s, 13), lossFlattened: sqlite3_column_int(s, 14) != 0,
                                targetReached: target)
    }
}
