// Background injection (Docs/Method.md §7): for each object, 5 point clouds of other classes are drawn
// and 500 of their points, picked at random, are attached to the object as background. The clouds are
// all normalised to the unit sphere, so the injected points lie in the same frame as the object's.
import Foundation
import KDCore

/// Where the injected points of one sample came from: a source object and the indices of its points
/// (into that object's sampled cloud), in the order they appear in the sample.
public struct InjectedSource: Codable, Sendable, Equatable {
    public var object: String
    public var className: String
    public var points: [Int]
}

/// An object with its injected background, ready to become a ``Sample``.
public struct InjectedObject: Sendable, Equatable {
    public var object: PointObject
    /// Foreground points first, then background points: (fg + bg)·3 floats.
    public var points: [Float]
    public var foregroundCount: Int
    public var sources: [InjectedSource]

    /// Per point: "object#i" for the object's own points, "source#j (class)" for injected ones.
    public var provenance: [String] {
        var p = (0..<foregroundCount).map { "\(object.id)#\($0)" }
        for s in sources { for j in s.points { p.append("\(s.object)#\(j) (\(s.className))") } }
        return p
    }
}

/// A set of objects with their clouds sampled on demand and kept (one collection, or several catalogues).
public final class ObjectPool {
    public private(set) var objects: [PointObject]
    let points: Int
    let seed: UInt64
    private let load: (Int) throws -> SampledCloud
    private var cache: [Int: [Float]] = [:]
    private var failed: [Int: Error] = [:]
    private let lock = NSLock()
    /// Objects whose cloud could not be read, one line each.
    public private(set) var problems: [String] = []

    public init(objects: [PointObject], points: Int, seed: UInt64, load: @escaping (Int) throws -> SampledCloud) {
        self.objects = objects; self.points = points; self.seed = seed; self.load = load
    }

    /// The object's normalised cloud (`points`·3 floats); an unreadable object throws its error each time.
    public func cloud(_ i: Int) throws -> [Float] {
        lock.lock()
        if let c = cache[i] { lock.unlock(); return c }
        if let e = failed[i] { lock.unlock(); throw e }
        lock.unlock()
        do {
            let c = try load(i).points
            lock.lock(); cache[i] = c; lock.unlock()
            return c
        } catch {
            lock.lock(); failed[i] = error; problems.append("\(objects[i].id): \(error); skipped"); lock.unlock()
            throw error
        }
    }

    /// Object `i` with `background` points injected from `clouds` objects of other classes in the same
    /// split, chosen by a generator seeded with the object's id and the pool's seed. Sources that cannot
    /// be read are passed over (and reported); with fewer than `background` candidate points, points are
    /// drawn with replacement.
    public func inject(_ i: Int, background: Int, clouds: Int) throws -> InjectedObject {
        let object = objects[i]
        let foreground = try cloud(i)
        guard background > 0 else { return InjectedObject(object: object, points: foreground, foregroundCount: points, sources: []) }
        var g = SplitMix(seed: SplitMix.hash(object.id, seed ^ 0x5EED))
        var candidates = objects.indices.filter { objects[$0].split == object.split && objects[$0].className != object.className }
        var chosen: [(Int, [Float])] = []
        while chosen.count < clouds && !candidates.isEmpty {
            let k = g.below(candidates.count)
            let c = candidates.remove(at: k)
            if let cloud = try? cloud(c) { chosen.append((c, cloud)) }
        }
        guard !chosen.isEmpty else {
            throw PointCollectionError.tooFew(path: object.id, what: "no object of another class in the \(object.split) split to take background points from; background injection needs at least two classes")
        }
        // Pick `background` of the chosen clouds' points at random (distinct when there are enough).
        let pool = chosen.count * points
        var picks: [Int]
        if pool >= background {
            var order = Array(0..<pool)
            for k in 0..<background { order.swapAt(k, k + g.below(pool - k)) }
            picks = Array(order[0..<background])
        } else {
            picks = (0..<background).map { _ in g.below(pool) }
        }
        picks.sort()
        var points = foreground
        points.reserveCapacity(foreground.count + 3 * background)
        var sources: [InjectedSource] = []
        for p in picks {
            let (s, j) = (p / self.points, p % self.points)
            let (objectIndex, cloud) = chosen[s]
            if sources.last?.object != objects[objectIndex].id {
                sources.append(InjectedSource(object: objects[objectIndex].id, className: objects[objectIndex].className, points: []))
            }
            sources[sources.count - 1].points.append(j)
            points += cloud[(3 * j)..<(3 * j + 3)]
        }
        return InjectedObject(object: object, points: points, foregroundCount: self.points, sources: sources)
    }
}
