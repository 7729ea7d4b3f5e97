import Foundation
import KDCore
#if canImport(Glibc)
import Glibc
#endif

/// Renders a study's ``StudyProgress`` events (Docs/Scaling.md "Following a run"): one display per stage
/// (training, maps) with the count, the rate and the time left. On a terminal, a bar redrawn in place; in a
/// log (not a terminal), plain lines at most every `every` seconds, plus the last event of each network
/// (training) or of the study (maps). The clock is injected, so the rate and time left are testable.
///
/// The rate of a stage counts from when its work began: the previous event of the other stage (the first event
/// of all starts the clock). Events that arrive within `burst` seconds of the previous one before any slower
/// one (maps already in the store, reported in one go when a run resumes) move that starting point forward
/// instead, so they do not make the rate look faster than the work is. Training's time left is for the
/// network being trained (its events count its epochs); maps' is for the whole study.
final class ProgressDisplay: @unchecked Sendable {
    enum Mode: Equatable {
        /// A bar of `width` columns, redrawn in place (`\r`, clear to end of line) at most every `every` seconds.
        case bar(width: Int, every: TimeInterval)
        /// One line per event at most every `every` seconds, plus the last one.
        case lines(every: TimeInterval)
    }

    let mode: Mode
    let burst: TimeInterval
    private let now: () -> Date
    private let write: (String) -> Void
    private let lock = NSLock()
    private var states: [StudyProgress.Stage: StageState] = [:]
    private var current: StudyProgress.Stage?
    /// A bar is drawn and its line not yet ended.
    private var barOpen = false
    /// When the last event of any stage arrived.
    private var lastEvent: Date?

    struct StageState {
        var first: Date
        var previous: Date
        /// The starting point of the rate: a time and the units done then.
        var baseTime: Date
        var baseUnits: Int
        var settled = false
        /// Units of the networks finished before the current one (training counts epochs across networks).
        var finishedUnits = 0
        var event: StudyProgress
        var lastShown: Date?
        var pending = false
        var units: Int { finishedUnits + event.done }
    }

    init(mode: Mode, burst: TimeInterval = 0.05, now: @escaping () -> Date = { Date() }, write: @escaping (String) -> Void) {
        self.mode = mode
        self.burst = burst
        self.now = now
        self.write = write
    }

    /// The display for standard error: a bar when it is a terminal (width from $COLUMNS, else 80), plain
    /// lines every `every` seconds otherwise.
    static func standardError(every: TimeInterval = 30) -> ProgressDisplay {
        let terminal = isatty(STDERR_FILENO) != 0
        let width = ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) }.map { max(40, $0) } ?? 80
        return ProgressDisplay(mode: terminal ? .bar(width: width, every: 0.1) : .lines(every: every)) {
            FileHandle.standardError.write(Data($0.utf8))
        }
    }

    /// Takes one event (thread-safe); the function to give a study: `study.progress = display.update`.
    func update(_ p: StudyProgress) {
        lock.lock(); defer { lock.unlock() }
        let t = now()
        if let c = current, c != p.stage {
            close(c)
            states[c] = nil   // each stretch of a stage is a display of its own (a study trains, then maps)
        }
        current = p.stage
        var s: StageState
        if var old = states[p.stage], !(p.stage == .maps && p.done < old.event.done) {
            if old.event.item != p.item && p.stage == .training { old.finishedUnits += old.event.done }
            old.event = p
            s = old
        } else {
            // The work on this stage started at the previous event of any stage (the first event ever starts
            // the clock itself); the event's own unit is the first one done since then.
            let start = lastEvent ?? t
            s = StageState(first: start, previous: start, baseTime: start, baseUnits: lastEvent == nil ? p.done : max(0, p.done - 1), event: p)
        }
        if !s.settled {
            if t.timeIntervalSince(s.previous) < burst { s.baseTime = t; s.baseUnits = s.units } else { s.settled = true }
        }
        s.previous = t
        lastEvent = t
        let last = p.done >= p.total
        switch mode {
        case let .bar(width, every):
            if last || s.lastShown.map({ t.timeIntervalSince($0) >= every }) ?? true {
                write("\r" + Self.barLine(s, at: t, width: width) + "\u{1B}[K")
                barOpen = true
                s.lastShown = t
            }
        case let .lines(every):
            if last || s.lastShown.map({ t.timeIntervalSince($0) >= every }) ?? true {
                write(Self.plainLine(s, at: t) + "\n")
                s.lastShown = t
                s.pending = false
            } else {
                s.pending = true
            }
        }
        states[p.stage] = s
    }

    /// Writes one line of a log (a study's `log`) without breaking the bar: on a terminal the bar is cleared,
    /// the line written, and the bar drawn again below it.
    func log(_ line: String) {
        around { write(line + "\n") }
    }

    /// Runs `body`, which writes whole lines to the same terminal by other means (a command's own `log`),
    /// with the bar cleared before and drawn again after: `s.log = { line in display.around { log(line) } }`.
    /// `body` must not call the display.
    func around(_ body: () -> Void) {
        lock.lock(); defer { lock.unlock() }
        guard barOpen, case let .bar(width, _) = mode, let c = current, let s = states[c] else { return body() }
        write("\r\u{1B}[K")
        body()
        write(Self.barLine(s, at: s.previous, width: width) + "\u{1B}[K")
    }

    /// Ends the display: the last event not yet shown is written, and the bar's line is ended.
    func finish() {
        lock.lock(); defer { lock.unlock() }
        if let c = current { close(c) }
        current = nil
        states = [:]
    }

    private func close(_ stage: StudyProgress.Stage) {
        guard var s = states[stage] else { return }
        if s.pending, case .lines = mode {
            write(Self.plainLine(s, at: s.previous) + "\n")
            s.pending = false
            states[stage] = s
        }
        if barOpen { write("\n"); barOpen = false }
    }

    // MARK: - Formatting (pure)

    /// Units per second between the starting point and `t`; nil before any measured unit.
    static func rate(_ s: StageState, at t: Date) -> Double? {
        let seconds = t.timeIntervalSince(s.baseTime), units = s.units - s.baseUnits
        guard units > 0, seconds > 0 else { return nil }
        return Double(units) / seconds
    }

    /// Seconds left for the current network (training) or the study (maps), at `rate` units per second.
    static func timeLeft(_ p: StudyProgress, rate: Double?) -> TimeInterval? {
        guard let rate, rate > 0 else { return nil }
        return Double(max(0, p.total - p.done)) / rate
    }

    static func unit(_ stage: StudyProgress.Stage) -> (one: String, many: String) {
        stage == .training ? ("epoch", "epochs") : ("map", "maps")
    }

    /// "2.5 maps/s" when at least one a second, else "12 s/epoch" or "3 min 05 s/epoch".
    static func rateText(_ rate: Double?, stage: StudyProgress.Stage) -> String {
        let u = unit(stage)
        guard let rate, rate > 0 else { return "rate not known yet" }
        if rate >= 1 { return String(format: "%.1f %@/s", rate, u.many) }
        return "\(duration(1 / rate))/\(u.one)"
    }

    /// "42 s", "3 min 05 s", "1 h 02 min".
    static func duration(_ seconds: TimeInterval) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s < 60 { return seconds < 10 && seconds != seconds.rounded() ? String(format: "%.1f s", seconds) : "\(s) s" }
        if s < 3600 { return String(format: "%d min %02d s", s / 60, s % 60) }
        return String(format: "%d h %02d min", s / 3600, (s % 3600) / 60)
    }

    /// `[#####.....]` with `width` cells inside the brackets.
    static func bar(done: Int, total: Int, width: Int) -> String {
        let w = max(1, width)
        let filled = total > 0 ? min(w, max(0, done * w / total)) : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: w - filled) + "]"
    }

    static func percent(_ p: StudyProgress) -> Int { p.total > 0 ? min(100, p.done * 100 / p.total) : 0 }

    /// One log line: "maps: 40/120 (33 %), 2.1 maps/s, about 38 s left — student epoch 3".
    static func plainLine(_ s: StageState, at t: Date) -> String {
        let p = s.event, u = unit(p.stage), r = rate(s, at: t)
        let scope = p.stage == .training ? " for this network" : ""
        var tail: String
        if p.done >= p.total {
            tail = "done, \(duration(t.timeIntervalSince(s.first))) since the stage's first event"
            if r != nil { tail += ", " + rateText(r, stage: p.stage) }
        } else {
            tail = rateText(r, stage: p.stage) + (timeLeft(p, rate: r).map { ", about \(duration($0)) left\(scope)" } ?? "")
        }
        return "\(p.stage.rawValue) \(p.item): \(p.done)/\(p.total) \(u.many) (\(percent(p)) %), \(tail)"
    }

    /// The bar line, cut to `width` columns: "maps [####....] 40/120 33 % 2.1 maps/s 38 s left  student epoch 3".
    static func barLine(_ s: StageState, at t: Date, width: Int) -> String {
        let p = s.event, r = rate(s, at: t)
        let left = p.done >= p.total ? "done" : timeLeft(p, rate: r).map { "\(duration($0)) left" } ?? ""
        let head = "\(p.stage.rawValue) "
        let numbers = " " + ["\(p.done)/\(p.total) \(percent(p)) %", rateText(r, stage: p.stage), left, p.item].filter { !$0.isEmpty }.joined(separator: "  ")
        let barWidth = max(10, min(30, width - head.count - numbers.count - 2))
        let line = head + bar(done: p.done, total: p.total, width: barWidth) + numbers
        return line.count > width ? String(line.prefix(max(0, width - 1))) + "…" : line
    }
}
