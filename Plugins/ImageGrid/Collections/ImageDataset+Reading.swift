// Building an ImageDataset from a reader's listing: select records (classes, max-per-split), then one
// streaming pass per archive that decodes each needed member as it goes by, in batches processed on
// every core. A record that fails is skipped with its archive, member and reason; the rest go on.
import Dispatch
import Foundation
import KDCore
import KDDatasets

extension ImageDataset {
    /// Decodes and crops the records of `listing` selected by `options`.
    convenience init(listing: CollectionListing, options: ImageOptions, reader: ArchiveReader?) throws {
        try options.validate()
        let (classNames, selected) = try ImageDataset.select(listing, options)
        let builder = Materializer(listing: listing, records: selected, options: options)
        try builder.run(reader: reader)
        let (stored, failures) = builder.results()
        let skipped = listing.skipped + failures

        // A class named in `classes` must keep at least one object once bad records are skipped.
        if options.classes != nil {
            for (label, name) in classNames.enumerated()
            where !stored.values.contains(where: { $0.contains { $0.record.label == label } }) {
                throw ImageCollectionError.emptyClass(path: listing.path, name: name)
            }
        }
        let total = stored.values.reduce(0) { $0 + $1.count }
        guard total > 0 else {
            throw ImageCollectionError.nothingLeft(path: listing.path, skipped: skipped.count,
                                                   examples: skipped.prefix(3).map(\.description))
        }
        var settings = options.settingsDictionary()
        for (k, v) in listing.settings { settings[k] = v }
        settings["format"] = listing.format
        settings["composite"] = String(listing.isComposite)
        settings["records-skipped"] = String(skipped.count)
        for split in Split.allCases { settings["\(split.rawValue)-count"] = String(stored[split]?.count ?? 0) }
        self.init(name: listing.name, format: listing.format, path: listing.path, isComposite: listing.isComposite,
                  classNames: classNames, options: options, settings: settings, skipped: skipped, stored: stored)
    }

    /// The class list after `classes`, and the records to decode (labels renumbered), per split in
    /// listing order: all of them, or the first `maxPerSplit` after a seeded shuffle.
    static func select(_ listing: CollectionListing, _ options: ImageOptions) throws -> ([String], [ObjectRecord]) {
        var classNames = listing.classNames
        var records = listing.records
        if let wanted = options.classes {
            var keep = Set<Int>()
            for name in wanted {
                let alias = listing.classAliases.firstIndex { $0.contains(name) }
                guard let k = ImageDataset.classIndex(name, in: listing.classNames) ?? alias else {
                    throw ImageCollectionError.unknownClass(path: listing.path, name: name, known: listing.classNames)
                }
                keep.insert(k)
            }
            let kept = keep.sorted()
            let newLabel = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
            classNames = kept.map { listing.classNames[$0] }
            records = records.compactMap { r in
                guard let l = newLabel[r.label] else { return nil }
                var r = r
                r.label = l
                return r
            }
            for (label, name) in classNames.enumerated() where !records.contains(where: { $0.label == label }) {
                throw ImageCollectionError.emptyClass(path: listing.path, name: name)
            }
        }
        guard let n = options.maxPerSplit else { return (classNames, records) }
        var chosen: [ObjectRecord] = []
        for (s, split) in Split.allCases.enumerated() {
            let positions = records.indices.filter { records[$0].split == split }
            guard positions.count > n else { chosen += positions.map { records[$0] }; continue }
            var order = positions
            var g = SeededGenerator(seed: options.seed, stream: UInt64(s) + 1)
            // Fisher–Yates with our own generator: stable across Swift versions, unlike shuffled(using:).
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(g.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
            chosen += order.prefix(n).sorted().map { records[$0] }
        }
        return (classNames, chosen)
    }

    /// The index of `name` in `classNames`: an exact match, else a match ignoring a numeric "NNN."
    /// prefix on either side (CUB's class folders), else a case-insensitive match.
    static func classIndex(_ name: String, in classNames: [String]) -> Int? {
        func bare(_ s: String) -> String {
            guard let dot = s.firstIndex(of: "."), s[..<dot].allSatisfy(\.isNumber), dot != s.startIndex else { return s }
            return String(s[s.index(after: dot)...])
        }
        if let i = classNames.firstIndex(of: name) { return i }
        if let i = classNames.firstIndex(where: { bare($0) == bare(name) }) { return i }
        return classNames.firstIndex { $0.lowercased() == name.lowercased() }
    }
}
