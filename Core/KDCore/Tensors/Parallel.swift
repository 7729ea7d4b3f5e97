import Foundation

/// Splits a long elementwise pass over the cores, in contiguous chunks, for the single training stream.
///
/// The thread count follows OpenBLAS, as ``MaxPool2D/threads`` and ``Conv2D/threads`` do: as many threads as
/// OpenBLAS may use when the pass has at least `minimum` elements, else one. When kd-tool runs its own
/// threads (the entropy engine, one sample per core) it sets OpenBLAS to one thread, so these passes stay on
/// the calling thread there. Chunk boundaries are multiples of `alignment`, so an 8-lane loop sees the same
/// groups of 8 in every chunk as in one pass over the whole range, and results are identical for any count.
public enum Parallel {
    /// Elementwise passes shorter than this stay on one thread (1 MiB of floats, about 0.1 ms of work,
    /// against tens of microseconds to wake a second thread).
    public static let minimumElements = 1 << 18

    /// The number of threads a pass over `count` elements uses: `threads` if given (tests), else
    /// OpenBLAS's thread count from `minimum` elements on, else 1.
    public static func workers(count: Int, minimum: Int = minimumElements, threads: Int? = nil) -> Int {
        if let threads { return max(1, min(threads, count, 64)) }
        return count >= minimum ? max(1, min(BLAS.threads, 64)) : 1
    }

    /// Runs `body(worker, images)` over `workers` contiguous blocks of a batch's images. Several workers run
    /// on kd-tool's own threads with matrix products at one thread each: one block per core and no
    /// synchronisation per chunk (with OpenBLAS splitting every chunk's small GEMM over two threads instead,
    /// a third of training time went to its threads waiting for each other). One worker runs inline.
    /// Used by ``Conv2D`` and the oneDNN layer chains of ``Sequential``.
    public static func imageBlocks(batch: Int, workers: Int, _ body: (Int, Range<Int>) -> Void) {
        if workers <= 1 { body(0, 0..<batch); return }
        BLAS.withThreads(1) {
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                body(w, (batch * w / workers)..<(batch * (w + 1) / workers))
            }
        }
    }

    /// ``imageBlocks(batch:workers:_:)`` for blocks that can fail: true when every block's `body` did.
    public static func imageBlocksSucceed(batch: Int, workers: Int, _ body: (Int, Range<Int>) -> Bool) -> Bool {
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: max(workers, 1)) { ok in
            imageBlocks(batch: batch, workers: workers) { w, images in ok[w] = body(w, images) }
            return ok.prefix(max(workers, 1)).allSatisfy { $0 }
        }
    }

    /// Runs `body` over consecutive ranges covering 0..<count, one per worker (see ``workers(count:minimum:threads:)``);
    /// every boundary but the last is a multiple of `alignment`.
    public static func chunks(count: Int, alignment: Int = 8, minimum: Int = minimumElements, threads: Int? = nil,
                              _ body: (Range<Int>) -> Void) {
        let n = workers(count: count, minimum: minimum, threads: threads)
        if n <= 1 || count <= alignment { body(0..<count); return }
        let units = (count + alignment - 1) / alignment
        DispatchQueue.concurrentPerform(iterations: n) { w in
            let lower = min(count, units * w / n * alignment), upper = min(count, units * (w + 1) / n * alignment)
            if lower < upper { body(lower..<upper) }
        }
    }
}
