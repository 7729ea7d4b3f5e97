import ArgumentParser
import Foundation

/// The study folders of a run folder. `kd-tool analyze`, `quickstart` and `experiment run` write one study per
/// seed in `OUTPUT/seed-N/` (with resolved.yaml and experiment.txt next to them); `status`, `report` and
/// `coherency` accept either such an output folder or one study folder.
enum RunFolders {
    /// `folder` itself when it holds a study (results.sqlite or study.json), else its `seed-N/` subfolders that
    /// do, in seed order; empty when neither.
    static func studies(in folder: URL) -> [URL] {
        let fm = FileManager.default
        func isStudy(_ u: URL) -> Bool {
            fm.fileExists(atPath: u.appendingPathComponent("results.sqlite").path) || fm.fileExists(atPath: u.appendingPathComponent("study.json").path)
        }
        if isStudy(folder) { return [folder] }
        let names = (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
        let seeds = names.compactMap { n -> (UInt64, URL)? in
            guard n.hasPrefix("seed-"), let s = UInt64(n.dropFirst(5)) else { return nil }
            let u = folder.appendingPathComponent(n)
            return isStudy(u) ? (s, u) : nil
        }
        return seeds.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The study folders to work on: all of them, or the one of `seed`. An error says what the folder holds.
    static func select(_ folder: URL, seed: UInt64?) throws -> [URL] {
        let all = studies(in: folder)
        guard let seed else { return all.isEmpty ? [folder] : all }
        guard let hit = all.first(where: { $0.lastPathComponent == "seed-\(seed)" }) else {
            throw RunFolderError(message: "\(folder.path) has no study of seed \(seed); its seed folders are: \(all.map(\.lastPathComponent).joined(separator: ", ").isEmpty ? "none" : all.map(\.lastPathComponent).joined(separator: ", "))")
        }
        return [hit]
    }
}

/// A run folder that does not hold what the command asks for (a message naming the folder and what it holds).
struct RunFolderError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
