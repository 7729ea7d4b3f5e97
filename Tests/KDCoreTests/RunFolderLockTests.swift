import Foundation
import KDCore
import Testing

@Suite struct RunFolderLockTests {
    private func folder() -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kd-lock-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// Two opens of the lock file conflict (flock is per open file description), as two processes
    /// would; the refusal names the folder and the holder's PID; releasing lets the next one in.
    @Test func aSecondHolderIsRefusedWithTheFolderAndPID() throws {
        let dir = folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try RunFolderLock(folder: dir)
        do {
            _ = try RunFolderLock(folder: dir)
            Issue.record("the second lock was granted")
        } catch let error as RunFolderLockError {
            guard case let .held(f, holder) = error else { Issue.record("\(error)"); return }
            #expect(f == dir)
            #expect(holder.contains("pid \(getpid())"))
            #expect(error.description.contains(dir) && error.description.contains("pid \(getpid())"))
        }
        first.release()
        let second = try RunFolderLock(folder: dir)
        second.release()
    }

    /// Another process: flock(1) from util-linux, when installed, cannot take the lock we hold and
    /// takes it once we release it.
    @Test func anotherProcessCannotTakeTheLock() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else { return }
        let dir = folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func tryFromAnotherProcess() throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            p.arguments = ["-n", "-E", "75", dir + "/" + RunFolderLock.fileName, "true"]
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus
        }
        let lock = try RunFolderLock(folder: dir)
        #expect(try tryFromAnotherProcess() == 75)
        lock.release()
        #expect(try tryFromAnotherProcess() == 0)
    }
}
