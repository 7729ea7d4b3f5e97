// The streaming decoder behind ImageDataset+Reading: one pass per archive, each needed member decoded as it
// goes by, in batches processed on every core; a record that fails is skipped with its reason.
import Dispatch
import Foundation
import KDCore
import KDDatasets

/// Decodes records member by member. Images come first (their crop geometry is needed to cut the
/// mask); mask members met before their image wait, compressed, until it arrives.
final class Materializer {
    let listing: CollectionListing
    let records: [ObjectRecord]
    let options: ImageOptions
    private var image: [ImageResult?]
    private var mask: [FinishedMask?]
    private var failure: [SkippedRecord?]
    /// Image member → records (a VOC image holds several objects).
    private var imageTargets: [String: [Int]] = [:]
    /// Mask archive → member → records.
    private var maskTargets: [String: [String: [Int]]] = [:]
    private var pendingImages: [ImageJob] = []
    private var pendingMasks: [MaskJob] = []
    private var pendingBytes = 0
    /// Flush a batch after this many images or bytes: enough work for every core, little memory.
    private let batchImages = 64
    private let batchBytes = 64 << 20

    struct ImageResult {
        var geometry: CropGeometry
        var pixels: [UInt8]
        var channels: Int
    }

    enum Payload {
        case encoded([UInt8])
        case decoded(RGBImage)
    }

    struct ImageJob {
        var member: String
        var payload: Payload
        var targets: [Int]
    }

    struct MaskJob {
        var archive: String
        var member: String
        var bytes: [UInt8]
        var targets: [Int]
    }

    init(listing: CollectionListing, records: [ObjectRecord], options: ImageOptions) {
        self.listing = listing
        self.records = records
        self.options = options
        image = Array(repeating: nil, count: records.count)
        mask = Array(repeating: nil, count: records.count)
        failure = Array(repeating: nil, count: records.count)
        for (i, r) in records.enumerated() {
            imageTargets[r.imageMember, default: []].append(i)
            switch r.mask {
            case let .grayscale(archive, member): maskTargets[archive, default: [:]][member, default: []].append(i)
            case let .paletteObject(member, _): maskTargets[listing.path, default: [:]][member, default: []].append(i)
            case .box, .fromImage: break
            }
        }
    }

    // MARK: Passes

    func run(reader: ArchiveReader?) throws {
        switch listing.images {
        case .decoded(let supply):
            for (member, targets) in imageTargets.sorted(by: { $0.value[0] < $1.value[0] }) {
                for t in targets {
                    pendingImages.append(ImageJob(member: member, payload: .decoded(supply(records[t])), targets: [t]))
                    if pendingImages.count >= 4 * batchImages { flush() }
                }
            }
            flush()
        case .archive:
            guard let reader else { preconditionFailure("an archive listing needs its reader") }
            pass(reader, archive: listing.path, images: true)
        }
        for archive in maskTargets.keys.sorted() where archive != listing.path {
            let maskReader: ArchiveReader
            do {
                maskReader = try ArchiveReader(path: archive)
            } catch {
                throw ImageCollectionError.badMaskArchive(path: archive, expected: "a readable archive", found: shortReason(error))
            }
            pass(maskReader, archive: archive, images: false)
        }
        flush(final: true)
    }

    /// One streaming pass over `reader`. A damaged member skips its records; a damaged archive
    /// structure ends the pass, and the records not reached are reported by ``results()``.
    private func pass(_ reader: ArchiveReader, archive: String, images: Bool) {
        let masks = maskTargets[archive] ?? [:]
        var lastMember = "the start of the archive"
        var seenMasks = Set<String>()
        // Members already taken, by path: a later member at the same path with other content makes
        // the records using it ambiguous, and they are skipped (an appended tar that changed a file).
        var taken: [String: (targets: [Int], count: Int, hash: Int)] = [:]
        let heldLimit = reader.limits.maxHeldBytes
        do {
            try reader.forEachEntry { member in
                let path = member.entry.path
                if let earlier = taken[path] {
                    guard member.entry.isFile, let again = try? member.read(),
                          again.count == earlier.count, again.hashValue == earlier.hash else {
                        for t in earlier.targets {
                            fail(t, archive: archive, member: path,
                                 "the archive holds two different members at this path; which one is meant is unknown")
                        }
                        return
                    }
                    return
                }
                let forImage = images ? imageTargets[path] : nil
                let forMask = masks[path]
                guard forImage != nil || forMask != nil else { return }
                lastMember = path
                let bytes: [UInt8]
                do {
                    bytes = try member.read()
                } catch {
                    for t in (forImage ?? []) + (forMask ?? []) { fail(t, archive: archive, member: path, shortReason(error)) }
                    return
                }
                if let forImage {
                    pendingImages.append(ImageJob(member: path, payload: .encoded(bytes), targets: forImage))
                    imageTargets[path] = nil   // a later duplicate (appended tar) is ignored
                }
                if let forMask, !seenMasks.contains(path) {
                    seenMasks.insert(path)
                    pendingMasks.append(MaskJob(archive: archive, member: path, bytes: bytes, targets: forMask))
                }
                taken[path] = ((forImage ?? []) + (forMask ?? []), bytes.count, bytes.hashValue)
                pendingBytes += bytes.count
                if pendingImages.count >= batchImages || pendingBytes >= batchBytes { flush() }
                // Masks that arrive long before their images wait in memory: cap what waits.
                if pendingBytes > heldLimit {
                    let reason = ArchiveError.tooMuchHeld(archive: archive, what: "mask members waiting for their images",
                                                          limit: heldLimit).description
                    for job in pendingMasks { for t in job.targets { fail(t, archive: archive, member: job.member, reason) } }
                    pendingMasks = []
                    pendingBytes = 0
                }
            }
        } catch {
            let reason = "the archive is damaged after \(lastMember), so this member was never reached: \(shortReason(error))"
            for (path, targets) in imageTargets where images { for t in targets where image[t] == nil { fail(t, archive: archive, member: path, reason) } }
            for (path, targets) in masks where !seenMasks.contains(path) {
                for t in targets { fail(t, archive: archive, member: path, reason) }
            }
        }
        flush()
    }

    private func fail(_ t: Int, archive: String, member: String, _ reason: String) {
        guard failure[t] == nil else { return }
        failure[t] = SkippedRecord(id: records[t].id, archive: archive, member: member, reason: reason)
    }

    // MARK: Batches

    /// Processes the pending images, then the pending masks whose images are done (all of them when
    /// `final`: those left have no image and are reported missing).
    private func flush(final: Bool = false) {
        let jobs = pendingImages
        pendingImages = []
        let imageResults = Materializer.concurrentMap(jobs) { self.processImage($0) }
        for results in imageResults {
            for (t, result) in results {
                switch result {
                case .success(let (part, boxMask)):
                    image[t] = part
                    if let boxMask { mask[t] = boxMask }
                case .failure(let f):
                    fail(t, archive: f.archive ?? listing.path, member: f.member ?? records[t].imageMember, f.reason)
                }
            }
        }
        var ready: [MaskJob] = [], waiting: [MaskJob] = []
        for job in pendingMasks {
            let done = job.targets.allSatisfy { image[$0] != nil || failure[$0] != nil }
            if done || final { ready.append(job) } else { waiting.append(job) }
        }
        pendingMasks = waiting
        pendingBytes = waiting.reduce(0) { $0 + $1.bytes.count }
        let geometry = image.map { $0?.geometry }
        let maskResults = Materializer.concurrentMap(ready) { self.processMask($0, geometry: geometry) }
        for (job, results) in zip(ready, maskResults) {
            for (t, result) in results {
                switch result {
                case .success(let m): mask[t] = m
                case .failure(let f): fail(t, archive: job.archive, member: job.member, f.reason)
                }
            }
        }
    }

    /// Runs `body` over `items` on every core, results in order.
    static func concurrentMap<T, R>(_ items: [T], _ body: (T) -> R) -> [R] {
        guard items.count > 1 else { return items.map(body) }
        var out = [R?](repeating: nil, count: items.count)
        out.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: items.count) { i in base[i] = body(items[i]) }
        }
        return out.map { $0! }
    }

    private func processImage(_ job: ImageJob) -> [(Int, Result<(ImageResult, FinishedMask?), RecordFailure>)] {
        let decoded: RGBImage
        switch job.payload {
        case .decoded(let image): decoded = image
        case .encoded(let bytes):
            do {
                decoded = try RGBImage.decode(bytes: bytes, name: "\(listing.fileName):\(job.member)")
            } catch {
                return job.targets.map { ($0, .failure(RecordFailure(shortReason(error)))) }
            }
        }
        let onBlack = job.targets.contains { records[$0].mask == .fromImage } ? ObjectCrop.objectOnBlack(decoded) : nil
        return job.targets.map { t in
            var record = records[t]
            if let scale = options.cropScale { record.cropScale = scale }
            switch ObjectCrop.geometry(record, width: decoded.width, height: decoded.height) {
            case .failure(let f): return (t, .failure(f))
            case .success(let g):
                let (pixels, channels) = ObjectCrop.inputPixels(decoded, geometry: g, size: options.imageSize)
                var finished: FinishedMask? = nil
                switch record.mask {
                case .box:
                    finished = finish(ObjectCrop.boxPlane(g), g)
                case .fromImage:
                    finished = finish(ObjectCrop.cropPlane(onBlack!, width: decoded.width, geometry: g), g)
                case .grayscale, .paletteObject:
                    break
                }
                return (t, .success((ImageResult(geometry: g, pixels: pixels, channels: channels), finished)))
            }
        }
    }

    private func processMask(_ job: MaskJob, geometry: [CropGeometry?]) -> [(Int, Result<FinishedMask, RecordFailure>)] {
        let targets = job.targets.filter { failure[$0] == nil && geometry[$0] != nil }
        guard !targets.isEmpty else { return [] }
        let name = "\(CollectionListing.fileName(job.archive)):\(job.member)"
        let planes: (width: Int, height: Int, plane: (ObjectRecord) -> [UInt8])
        do {
            if case .paletteObject = records[targets[0]].mask {
                let indexed = try RGBImage.decodePNGIndices(bytes: job.bytes, name: name)
                // Every object index in the segmentation (0 is background, 255 the void border) must
                // name an object of the annotation; otherwise the two files disagree.
                var present = [Bool](repeating: false, count: 256)
                for i in indexed.indices { present[Int(i)] = true }
                let objects = targets.compactMap { records[$0].segmentObjects }.max() ?? 254
                if let stray = (1..<255).first(where: { present[$0] && $0 > objects }) {
                    return targets.map { ($0, .failure(RecordFailure(
                        "the segmentation holds object index \(stray) but the annotation lists \(objects) objects")))
                    }
                }
                planes = (indexed.width, indexed.height, { record in
                    guard case let .paletteObject(_, index) = record.mask else { return [] }
                    return indexed.indices.map { Int($0) == index ? 1 : 0 }
                })
            } else {
                let decoded = try RGBImage.decode(bytes: job.bytes, name: name)
                let plane = ObjectCrop.thresholdPlane(decoded)
                planes = (decoded.width, decoded.height, { _ in plane })
            }
        } catch {
            return targets.map { ($0, .failure(RecordFailure(shortReason(error)))) }
        }
        return targets.map { t in
            let g = geometry[t]!
            guard planes.width == g.imageWidth && planes.height == g.imageHeight else {
                return (t, .failure(RecordFailure("the mask is \(planes.width)×\(planes.height) but its image is \(g.imageWidth)×\(g.imageHeight)")))
            }
            return (t, .success(finish(ObjectCrop.cropPlane(planes.plane(records[t]), width: planes.width, geometry: g), g)))
        }
    }

    private func finish(_ plane: [UInt8], _ g: CropGeometry) -> FinishedMask {
        ObjectCrop.finish(cropPlane: plane, width: g.crop.width, height: g.crop.height,
                          size: options.imageSize, grid: options.grid, rule: options.fgRule)
    }

    // MARK: Results

    /// The usable objects per split (in record order) and every record left out.
    func results() -> ([Split: [ImageDataset.Stored]], [SkippedRecord]) {
        var stored: [Split: [ImageDataset.Stored]] = [:]
        var skipped: [SkippedRecord] = []
        for (t, record) in records.enumerated() {
            if let f = failure[t] { skipped.append(f); continue }
            guard let part = image[t] else {
                skipped.append(SkippedRecord(id: record.id, archive: listing.path, member: record.imageMember,
                                             reason: "no such member in the archive"))
                continue
            }
            guard let m = mask[t] else {
                var archive = listing.path, member = "?"
                switch record.mask {
                case let .grayscale(a, m): archive = a; member = m
                case let .paletteObject(m, _): member = m
                case .box, .fromImage: break
                }
                skipped.append(SkippedRecord(id: record.id, archive: archive, member: member,
                                             reason: "the mask member is missing from the archive"))
                continue
            }
            stored[record.split, default: []].append(ImageDataset.Stored(record: record, pixels: part.pixels,
                                                                         channels: part.channels, mask: m))
        }
        return (stored, skipped)
    }
}
