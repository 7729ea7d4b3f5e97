import Foundation

// The study's first step: its data (Architecture.md "How data flows").

extension Study {
    /// The study's data: the teacher sees the whole training split, the student and the baseline a seeded
    /// subset; the analysed inputs are a fixed, class-balanced selection of the test split.
    public struct PreparedData {
        public let teacherData: InMemoryData
        public let studentData: InMemoryData
        public let testData: InMemoryData
        /// Samples that could not be read, with the reason.
        public let skipped: [String]
        /// The test-split index of each analysed input, and the inputs themselves, in order.
        public let inputIndices: [Int]
        public let inputs: [Sample]
    }

    /// Step 1: reads the splits and selects the analysed inputs (once; later calls return the same data).
    @discardableResult
    public func prepareData() throws -> PreparedData {
        if let p = prepared { return p }
        let c = config
        log("loading \(data.name) …")
        let trainCount = data.count(.train)
        var rng = SeededGenerator(seed: c.seed, stream: 11)
        var order = Array(0..<trainCount)
        order.shuffle(using: &rng)
        let subset = Array(order.prefix(max(1, Int((Double(trainCount) * c.studentDataFraction).rounded())))).sorted()
        let teacherData = InMemoryData(data, split: .train)
        let studentData = InMemoryData(data, split: .train, indices: subset)
        let testData = InMemoryData(data, split: .test)
        let skipped = data.problems + (teacherData.skipped + testData.skipped).map { "sample \($0.index): \($0.reason)" }
        for s in (teacherData.skipped + testData.skipped).prefix(20) { log("skipped sample \(s.index): \(s.reason)") }
        guard teacherData.count >= 2 else { throw StudyError.tooFewSamples(split: "train", found: teacherData.count, needed: 2) }
        guard testData.count >= c.analysedInputs else {
            throw StudyError.tooFewSamples(split: "test", found: testData.count, needed: c.analysedInputs)
        }
        let inputIndices = Self.balancedSelection(labels: testData.labels, count: c.analysedInputs).map { testData.indices[$0] }
        let inputs = try inputIndices.map { try data.sample(.test, $0) }
        let p = PreparedData(teacherData: teacherData, studentData: studentData, testData: testData, skipped: skipped,
                             inputIndices: inputIndices, inputs: inputs)
        prepared = p
        return p
    }

    /// Positions of `count` samples taken class by class in turn (the first sample of every class in class
    /// order, then the second, …), so a small analysed set still covers every class. Deterministic.
    public static func balancedSelection(labels: [Int], count: Int) -> [Int] {
        var byClass: [Int: [Int]] = [:]
        for (i, l) in labels.enumerated() { byClass[l, default: []].append(i) }
        let classes = byClass.keys.sorted()
        var out: [Int] = [], round = 0
        while out.count < min(count, labels.count) {
            for k in classes where round < byClass[k]!.count && out.count < count { out.append(byClass[k]![round]) }
            round += 1
        }
        return out
    }
}
