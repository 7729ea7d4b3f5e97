import Foundation
import KDCore
import Testing
@testable import KDToolKit

/// The progress display's formatting (Docs/Scaling.md "Following a run"): rate and time left from injected
/// timestamps, the bar, and the throttling of plain lines in a log.
@Suite struct ProgressDisplayTests {
    /// A clock the test moves by hand, and everything the display wrote.
    final class Harness: @unchecked Sendable {
        var t = Date(timeIntervalSince1970: 1_000_000)
        var written: [String] = []
        func display(_ mode: ProgressDisplay.Mode) -> ProgressDisplay {
            ProgressDisplay(mode: mode, now: { [unowned self] in self.t }, write: { [unowned self] in self.written.append($0) })
        }
        func at(_ seconds: Double, _ d: ProgressDisplay, _ stage: StudyProgress.Stage, _ item: String, _ done: Int, _ total: Int) {
            t = Date(timeIntervalSince1970: 1_000_000 + seconds)
            d.update(StudyProgress(stage: stage, item: item, done: done, total: total))
        }
    }

    @Test func rateAndTimeLeftComeFromTheTimestamps() {
        let h = Harness()
        let d = h.display(.lines(every: 0))
        h.at(0, d, .maps, "teacher epoch 1", 1, 10)
        #expect(h.written.last == "maps teacher epoch 1: 1/10 maps (10 %), rate not known yet\n")
        h.at(4, d, .maps, "teacher epoch 1", 3, 10)
        // 2 maps in 4 s: 2 s per map, 7 maps left → 14 s.
        #expect(h.written.last == "maps teacher epoch 1: 3/10 maps (30 %), 2 s/map, about 14 s left\n")
        h.at(5, d, .maps, "student epoch 2", 7, 10)
        // 6 maps in 5 s: 1.2 maps/s, 3 left → 2.5 s.
        #expect(h.written.last == "maps student epoch 2: 7/10 maps (70 %), 1.2 maps/s, about 2.5 s left\n")
        h.at(605, d, .maps, "student epoch 2", 10, 10)
        #expect(h.written.last == "maps student epoch 2: 10/10 maps (100 %), done, 10 min 05 s since the stage's first event, 1 min 07 s/map\n")
    }

    @Test func storedMapsReportedInOneGoDoNotSpeedUpTheRate() {
        let h = Harness()
        let d = h.display(.lines(every: 0))
        h.at(0, d, .training, "teacher", 2, 2)
        // 50 maps found in the store within a few milliseconds of each other, then real ones every 10 s.
        for i in 1...50 { h.at(0.001 * Double(i), d, .maps, "teacher epoch 1", i, 100) }
        h.at(10.05, d, .maps, "teacher epoch 2", 51, 100)
        h.at(20.05, d, .maps, "teacher epoch 2", 52, 100)
        #expect(h.written.last == "maps teacher epoch 2: 52/100 maps (52 %), 10 s/map, about 8 min 00 s left\n")
    }

    @Test func trainingCountsEpochsAcrossNetworksAndTimeLeftForTheCurrentOne() {
        let h = Harness()
        let d = h.display(.lines(every: 0))
        h.at(0, d, .training, "teacher", 1, 4)
        h.at(30, d, .training, "teacher", 4, 4)   // 3 epochs in 30 s
        h.at(40, d, .training, "student", 1, 3)   // 4 epochs in 40 s since the first event
        #expect(h.written.last == "training student: 1/3 epochs (33 %), 10 s/epoch, about 20 s left for this network\n")
        // A new stage starts its clock at the previous event of the other stage: 1 map in 4 s.
        h.at(44, d, .maps, "teacher epoch 1", 1, 5)
        #expect(h.written.last == "maps teacher epoch 1: 1/5 maps (20 %), 4 s/map, about 16 s left\n")
    }

    @Test func plainLinesAreThrottledAndTheLastOneIsAlwaysWritten() {
        let h = Harness()
        let d = h.display(.lines(every: 10))
        for i in 1...30 { h.at(Double(i), d, .maps, "m", i, 40) }
        // At 1 s (the first), 11 s and 21 s only.
        #expect(h.written.map { $0.prefix(12) } == ["maps m: 1/40", "maps m: 11/4", "maps m: 21/4"])
        h.at(31, d, .training, "student", 1, 5)   // the stage changes: the last map event not yet shown is written first
        #expect(h.written.count == 5 && h.written[3].hasPrefix("maps m: 30/40") && h.written[4].hasPrefix("training student: 1/5"))
        h.at(32, d, .training, "student", 2, 5)
        h.at(33, d, .training, "student", 5, 5)   // the last one of the network, though only 2 s later
        #expect(h.written.count == 6 && h.written[5].hasPrefix("training student: 5/5 epochs (100 %), done"))
        h.at(34, d, .maps, "x", 1, 3)
        h.at(35, d, .maps, "x", 2, 3)
        d.finish()
        #expect(h.written.suffix(2).map { $0.prefix(11) } == ["maps x: 1/3", "maps x: 2/3"])
        #expect(h.written.allSatisfy { $0.hasSuffix("\n") && !$0.contains("\r") })
    }

    @Test func theBarIsRedrawnInPlaceAndEndedOnceAStageIsOver() {
        let h = Harness()
        let d = h.display(.bar(width: 100, every: 0.5))
        h.at(0, d, .maps, "teacher epoch 1", 0, 8)
        h.at(0.1, d, .maps, "teacher epoch 1", 1, 8)   // within 0.5 s of the last redraw: not drawn
        h.at(2, d, .maps, "teacher epoch 1", 4, 8)
        #expect(h.written.count == 2)
        #expect(h.written[1] == "\r" + "maps [###############...............] 4/8 50 %  2.0 maps/s  2 s left  teacher epoch 1" + "\u{1B}[K")
        h.at(2.1, d, .maps, "teacher epoch 1", 8, 8)   // the last one is always drawn
        d.finish()
        #expect(h.written.suffix(2) == ["\r" + "maps [##############################] 8/8 100 %  3.8 maps/s  done  teacher epoch 1" + "\u{1B}[K", "\n"])
        h.written = []
        h.at(3, d, .training, "teacher", 1, 2)
        d.log("test accuracy: 50 %")
        #expect(h.written.count == 4 && h.written[1] == "\r\u{1B}[K" && h.written[2] == "test accuracy: 50 %\n")
        #expect(h.written[3].hasPrefix("training [") && h.written[3].hasSuffix("teacher\u{1B}[K"))
        var other: [String] = []
        d.around { other.append("from the command's own log") }
        #expect(other.count == 1 && h.written.count == 6 && h.written[4] == "\r\u{1B}[K" && h.written[5] == h.written[3])
        let lines = h.display(.lines(every: 5))
        lines.log("plain")
        #expect(h.written.last == "plain\n")
        let narrow = ProgressDisplay.barLine(.init(first: h.t, previous: h.t, baseTime: h.t, baseUnits: 0,
                                                   event: StudyProgress(stage: .training, item: String(repeating: "n", count: 90), done: 1, total: 3)),
                                             at: h.t, width: 60)
        #expect(narrow.count == 60 && narrow.hasSuffix("…") && narrow.hasPrefix("training [###.......] 1/3"))
        // A line that fits is not cut: the bar gives up cells first (80 columns: 27 cells instead of 30).
        let fits = ProgressDisplay.barLine(.init(first: h.t, previous: h.t, baseTime: h.t, baseUnits: 0,
                                                 event: StudyProgress(stage: .maps, item: "teacher epoch 1", done: 4, total: 8)), at: h.t, width: 80)
        #expect(fits == "maps [#############..............] 4/8 50 %  rate not known yet  teacher epoch 1" && fits.count == 80)
    }

    @Test func barsDurationsAndRatesAreFormatted() {
        #expect(ProgressDisplay.bar(done: 0, total: 4, width: 8) == "[........]")
        #expect(ProgressDisplay.bar(done: 3, total: 4, width: 8) == "[######..]")
        #expect(ProgressDisplay.bar(done: 9, total: 4, width: 8) == "[########]")
        #expect(ProgressDisplay.bar(done: 1, total: 0, width: 4) == "[....]")
        #expect(ProgressDisplay.duration(42) == "42 s")
        #expect(ProgressDisplay.duration(2.54) == "2.5 s")
        #expect(ProgressDisplay.duration(185) == "3 min 05 s")
        #expect(ProgressDisplay.duration(3725) == "1 h 02 min")
        #expect(ProgressDisplay.duration(.infinity) == "?")
        #expect(ProgressDisplay.rateText(2.54, stage: .maps) == "2.5 maps/s")
        #expect(ProgressDisplay.rateText(0.05, stage: .training) == "20 s/epoch")
        #expect(ProgressDisplay.rateText(nil, stage: .training) == "rate not known yet")
    }
}
