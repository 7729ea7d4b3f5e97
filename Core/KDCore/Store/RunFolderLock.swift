// One process at a time per run folder: an advisory flock(2) on `<folder>/.kd-tool.lock`.
//
// How to use:
//
//     let lock = try RunFolderLock(folder: outputFolder)   // throws RunFolderLockError.held naming the PID
//     defer { lock.release() }                             // also released when the process dies
//
// flock locks belong to an open file description, so the kernel drops the lock when the holder
// exits or is killed (no stale lock after a crash), and two opens of the file (two processes, or
// two descriptors in one process) conflict. The file holds the holder's PID and start time, only
// to name it in the message; the lock itself is the flock, never the file's existence.
import Foundation

/// Why a run folder could not be locked.
public enum RunFolderLockError: Error, Equatable, CustomStringConvertible {
    /// Another process (or another open of the lock file) holds the lock.
    case held(folder: String, holder: String)
    /// The lock file cannot be created or locked.
    case io(folder: String, message: String)

    public var description: String {
        switch self {
        case let .held(folder, holder):
            return "\(folder) is in use by another kd-tool run (\(holder)). Two runs writing one folder would "
                + "mix their checkpoints: wait for it to finish, stop it, or choose another output folder."
        case let .io(folder, message):
            return "\(folder): cannot lock the run folder: \(message)."
        }
    }
}

/// An exclusive lock on a run folder, held until ``release()`` or deinit (or process exit).
public final class RunFolderLock {
    public static let fileName = ".kd-tool.lock"
    public let folder: String
    private var fd: Int32

    /// Takes the lock without waiting; creates the folder's lock file when needed. `fileName` names another
    /// lock in the same folder (a shard of a sharded run locks its own, so shards can work side by side).
    public init(folder: String, fileName: String = RunFolderLock.fileName) throws {
        self.folder = folder
        let path = (folder as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw RunFolderLockError.io(folder: folder, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var status: Int32
        repeat { status = flock(fd, LOCK_EX | LOCK_NB) } while status != 0 && errno == EINTR
        if status != 0 {
            let code = errno
            let holder = RunFolderLock.describeHolder(fd)
            close(fd)
            if code == EWOULDBLOCK { throw RunFolderLockError.held(folder: folder, holder: holder) }
            throw RunFolderLockError.io(folder: folder, message: "flock: \(String(cString: strerror(code)))")
        }
        self.fd = fd
        // Record who holds it, for the message another process will print.
        let note = Array("pid \(getpid()) since \(ISO8601DateFormatter().string(from: Date()))\n".utf8)
        _ = ftruncate(fd, 0)
        _ = note.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    deinit { release() }

    /// Drops the lock (idempotent).
    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    /// "pid 1234 since …" from the lock file, at most 200 bytes, or a neutral phrase.
    private static func describeHolder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 200)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return "holder unknown" }
        let text = String(decoding: buffer.prefix(n), as: UTF8.self)
            .split(separator: "\n").first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        return text.hasPrefix("pid ") ? FileNumbers.excerpt(text) : "holder unknown"
    }
}
