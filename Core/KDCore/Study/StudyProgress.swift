import Foundation

/// One step of a long run, as a structured event for a progress display (a bar on a terminal, plain lines
/// in a log): which stage, what is being worked on, and how far along it is. ``Study`` emits one per
/// finished training epoch and one per finished (or already stored) entropy map.
public struct StudyProgress: Sendable, Equatable {
    public enum Stage: String, Sendable, Equatable {
        /// Training epochs of one network (`item` names it); `total` is its epoch count.
        case training
        /// Entropy maps of the study (`item` names the network and checkpoint being analysed); `total` counts
        /// every map of the study, including those found already in the store.
        case maps
    }
    public var stage: Stage
    public var item: String
    public var done: Int
    public var total: Int

    public init(stage: Stage, item: String, done: Int, total: Int) {
        self.stage = stage
        self.item = item
        self.done = done
        self.total = total
    }
}
