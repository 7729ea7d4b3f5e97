import ArgumentParser
import Foundation
import KDCore
import Testing
import _TestSupport
@testable import KDToolKit

/// `kd-tool slurm` (Docs/Scaling.md): the scripts for a small experiment — array ranges, the dependency chain,
/// the exact kd-tool command lines, paths with spaces and quotes — checked as text and by running them with
/// bash against a stand-in kd-tool and a stand-in sbatch; a bad file is refused before anything is written.
@Suite(.serialized) struct SlurmTests {
    /// A folder whose path has a space and a single quote, with the squares data and an experiment file.
    static func folder(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kdtool slurm's \(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try SyntheticSquaresPlugin.write(to: dir.appendingPathComponent("squares.txt").path, perSplit: 24, size: 8)
        return dir
    }

    static func plan(_ yaml: String, in dir: URL, shards: Int = 4, output: String? = nil, extra: [String] = [],
                     partition: String? = nil, time: String? = nil, mem: String? = nil) throws -> SlurmPlan {
        let file = dir.appendingPathComponent("e.yaml").path
        var e = try ExperimentTests.parse(yaml, in: dir)
        e.output = output ?? dir.appendingPathComponent("out put").path
        return try SlurmPlan(experiment: e, file: file, shards: shards, kdTool: dir.appendingPathComponent("bin dir/kd-tool").path,
                             partition: partition, time: time, cpusPerTask: 2, mem: mem, extra: extra)
    }

    /// Runs `script` with bash in `dir` with extra environment; returns (status, stdout).
    static func bash(_ script: String, _ arguments: [String] = [], in dir: URL, environment: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script] + arguments
        p.currentDirectoryURL = dir
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A stand-in executable at `path` that writes each argument on its own line to `log` (appending).
    static func recorder(at path: URL, log: URL, output: String = "") throws {
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        let text = "#!/usr/bin/env bash\n{ echo \"--- $(basename \"$0\")\"; for a in \"$@\"; do echo \"$a\"; done; } >> \(SlurmPlan.quote(log.path))\n\(output)\n"
        try text.write(to: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
    }

    @Test func theArrayScriptsHaveTheirRangesLogsAndExactCommandLines() throws {
        let dir = try Self.folder("arrays")
        let plan = try Self.plan(ExperimentTests.base + "seeds: [4, 5]\n", in: dir, extra: ["--account=lab"], partition: "short", time: "01:30:00", mem: "4G")
        #expect(plan.files.map(\.name) == ["train-teachers.sbatch", "train-students.sbatch", "maps.sbatch", "finish.sbatch", "submit.sh"])
        for stage in SlurmPlan.stages {
            let s = plan.arrayScript(stage: stage)
            let sbatch = s.split(separator: "\n").filter { $0.hasPrefix("#SBATCH") }
            #expect(sbatch == ["#SBATCH --job-name=kd-e-\(stage)", "#SBATCH --array=1-4", "#SBATCH --output=logs/\(stage)-%A_%a.log",
                               "#SBATCH --cpus-per-task=2", "#SBATCH --partition=short", "#SBATCH --time=01:30:00",
                               "#SBATCH --mem=4G", "#SBATCH --account=lab"], "\(stage)")
            #expect(s.contains("\nexec \"$KD\" experiment run \"$FILE\" --output \"$OUT\" --shard \"$task/4\" --stage \(stage)\n"))
        }
        let f = plan.finishScript()
        #expect(!f.contains("--array") && f.contains("#SBATCH --output=logs/finish-%j.log"))
        #expect(f.contains("\n\"$KD\" merge \"$OUT\"\n\"$KD\" experiment run \"$FILE\" --output \"$OUT\"\nfor study in 'seed-4' 'seed-5'; do\n    \"$KD\" report \"$OUT/$study\"\ndone\n"))
        let two = try Self.plan(ExperimentTests.base, in: dir, shards: 2)
        #expect(two.arrayScript(stage: "maps").contains("#SBATCH --array=1-2\n") && two.arrayScript(stage: "maps").contains("--shard \"$task/2\""))
        #expect(!two.arrayScript(stage: "maps").contains("--partition") && !two.arrayScript(stage: "maps").contains("--time"))
    }

    @Test func pathsWithSpacesAndQuotesReachKdToolIntact() throws {
        let dir = try Self.folder("quoting")
        let out = dir.appendingPathComponent("it's a run").path
        let plan = try Self.plan(ExperimentTests.base, in: dir, shards: 3, output: out)
        #expect(SlurmPlan.quote("a b'c") == "'a b'\\''c'")
        let folder = try plan.write()
        #expect(folder.path == out + "/slurm")
        for name in ["train-teachers.sbatch", "maps.sbatch", "finish.sbatch", "submit.sh"] {
            #expect(FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent(name).path), "\(name)")
        }
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("logs").path))
        let log = dir.appendingPathComponent("calls.txt")
        try Self.recorder(at: URL(fileURLWithPath: plan.kdTool), log: log)

        // Task 2 of the students' array, as Slurm would start it.
        let (status, _) = try Self.bash(folder.appendingPathComponent("train-students.sbatch").path, in: folder,
                                        environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_JOB_ID": "77"])
        #expect(status == 0)
        let args = try String(contentsOf: log, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(args == ["--- kd-tool", "experiment", "run", dir.appendingPathComponent("e.yaml").path, "--output", out,
                         "--shard", "2/3", "--stage", "train-students", ""])

        // Without an array task id (run by hand, not by sbatch) the script refuses to run anything.
        try? FileManager.default.removeItem(at: log)
        let (refused, _) = try Self.bash(folder.appendingPathComponent("maps.sbatch").path, in: folder, environment: ["SLURM_ARRAY_TASK_ID": ""])
        #expect(refused != 0 && !FileManager.default.fileExists(atPath: log.path))

        // The final job: merge, the tables, one report per study, in that order.
        let (finished, _) = try Self.bash(folder.appendingPathComponent("finish.sbatch").path, in: folder)
        #expect(finished == 0)
        let calls = try String(contentsOf: log, encoding: .utf8).components(separatedBy: "--- kd-tool\n").filter { !$0.isEmpty }
        #expect(calls == ["merge\n\(out)\n", "experiment\nrun\n\(dir.appendingPathComponent("e.yaml").path)\n--output\n\(out)\n", "report\n\(out)/seed-1\n"])
    }

    @Test func submitChainsTheJobsWithAfterokDependencies() throws {
        let dir = try Self.folder("submit")
        let plan = try Self.plan(ExperimentTests.base, in: dir, shards: 4)
        let folder = try plan.write()
        let bin = dir.appendingPathComponent("fake bin")
        let log = dir.appendingPathComponent("sbatch.txt")
        // A stand-in sbatch: records its arguments and prints "ID;cluster" like `sbatch --parsable`, ids 101, 102, ...
        try Self.recorder(at: bin.appendingPathComponent("sbatch"), log: log,
                          output: "n=$(grep -c '^--- ' \(SlurmPlan.quote(log.path))); echo \"$((100 + n));kd\"")
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let (status, printed) = try Self.bash(folder.appendingPathComponent("submit.sh").path, in: dir, environment: ["PATH": path])
        #expect(status == 0)
        #expect(printed == "train-teachers 101\ntrain-students 102\nmaps 103\nfinish 104\n")
        let calls = try String(contentsOf: log, encoding: .utf8).components(separatedBy: "--- sbatch\n").filter { !$0.isEmpty }
        #expect(calls == ["--parsable\ntrain-teachers.sbatch\n", "--parsable\n--dependency=afterok:101\ntrain-students.sbatch\n",
                          "--parsable\n--dependency=afterok:102\nmaps.sbatch\n", "--parsable\n--dependency=afterok:103\nfinish.sbatch\n"])

        // Running failed tasks again: from one stage on, that stage limited to the tasks given.
        try FileManager.default.removeItem(at: log)
        let (again, printedAgain) = try Self.bash(folder.appendingPathComponent("submit.sh").path, ["train-students", "2,4"], in: dir,
                                                  environment: ["PATH": path])
        #expect(again == 0 && printedAgain == "train-students 101\nmaps 102\nfinish 103\n")
        let callsAgain = try String(contentsOf: log, encoding: .utf8).components(separatedBy: "--- sbatch\n").filter { !$0.isEmpty }
        #expect(callsAgain == ["--parsable\n--array=2,4\ntrain-students.sbatch\n", "--parsable\n--dependency=afterok:101\nmaps.sbatch\n",
                               "--parsable\n--dependency=afterok:102\nfinish.sbatch\n"])
        let (unknown, _) = try Self.bash(folder.appendingPathComponent("submit.sh").path, ["students"], in: dir, environment: ["PATH": path])
        #expect(unknown == 2)
    }

    @Test func studyFoldersFollowTheSweepsThatTrain() throws {
        let dir = try Self.folder("sweeps")
        let yaml = ExperimentTests.base + "seeds: [4, 5]\nsweeps:\n  - {name: width, teacher-width: [0.5, 2]}\n  - {name: thresholds, threshold: [0.1, 0.3]}\n"
        let plan = try Self.plan(yaml, in: dir)
        #expect(plan.studyFolders == ["seed-4", "seed-5", "width/teacher-width=0.5/seed-4", "width/teacher-width=0.5/seed-5",
                                      "width/teacher-width=2.0/seed-4", "width/teacher-width=2.0/seed-5"])
    }

    @Test func badFilesAndOptionsAreRefusedBeforeAnythingIsWritten() throws {
        Registration.install([SyntheticSquaresPlugin()])
        let dir = try Self.folder("refused")
        let out = dir.appendingPathComponent("out")
        let bad = dir.appendingPathComponent("bad.yaml")
        try (ExperimentTests.base + "teacher: {epochs: three}\n").write(to: bad, atomically: true, encoding: .utf8)
        let good = dir.appendingPathComponent("good.yaml")
        try ExperimentTests.base.write(to: good, atomically: true, encoding: .utf8)
        let noData = dir.appendingPathComponent("no-data.yaml")
        try ExperimentTests.base.replacingOccurrences(of: "data: squares.txt", with: "data: gone.txt").write(to: noData, atomically: true, encoding: .utf8)
        for args in [[bad.path, "--shards", "2"], [good.path, "--shards", "0"], [good.path, "--shards", "2", "--time", "1 h"],
                     [good.path, "--shards", "2", "--sbatch", "account=lab"], [dir.appendingPathComponent("missing.yaml").path, "--shards", "2"],
                     [noData.path, "--shards", "2"]] {
            do {
                var command = try SlurmCommand.parseAsRoot(args + ["--output", out.path, "--kd-tool", "/bin/true"])
                try command.run()
                Issue.record("accepted: \(args)")
            } catch {
                let message = SlurmCommand.message(for: error)
                #expect(!message.isEmpty, "\(args)")
                if args[0] == bad.path { #expect(message.contains("bad.yaml") && message.contains("teacher"), "\(message)") }
                if args[0] == noData.path { #expect(message.contains("gone.txt") && message.contains("no such file"), "\(message)") }
            }
            #expect(!FileManager.default.fileExists(atPath: out.path), "\(args): something was written")
        }
        var command = try SlurmCommand.parseAsRoot([good.path, "--shards", "2", "--output", out.path, "--kd-tool", "/bin/true",
                                                     "--sbatch=--account=lab", "--sbatch=--qos=low"])
        try command.run()
        let maps = try String(contentsOf: out.appendingPathComponent("slurm/maps.sbatch"), encoding: .utf8)
        #expect(maps.contains("#SBATCH --account=lab\n#SBATCH --qos=low\n") && maps.contains("KD='/bin/true'\n"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("slurm/submit.sh").path))
    }
}
