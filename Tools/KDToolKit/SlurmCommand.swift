import ArgumentParser
import Foundation
import KDCore

/// `kd-tool slurm FILE.yaml --shards N --output DIR`: an experiment as Slurm job arrays (Docs/Scaling.md).
/// Writes DIR/slurm/: one job array per stage (train-teachers, train-students, maps; task I runs shard I/N of
/// its stage), a final job (merge, experiment run for the tables, one HTML report per study), and submit.sh,
/// which submits them chained with `--dependency=afterok:JOBID`.
struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Write (and optionally submit) Slurm job arrays that run an experiment file in N shards on a cluster.",
        discussion: """
        Writes OUTPUT/slurm/: train-teachers.sbatch, train-students.sbatch and maps.sbatch (job arrays of N \
        tasks; task I runs `kd-tool experiment run FILE --output OUTPUT --shard I/N --stage STAGE`), \
        finish.sbatch (`kd-tool merge`, `kd-tool experiment run` for the tables, `kd-tool report` for each \
        study folder) and submit.sh, which submits the four jobs each after the previous one has succeeded \
        (`sbatch --parsable --dependency=afterok:JOBID`). Each array task logs to OUTPUT/slurm/logs/. \
        The experiment file and OUTPUT must be on a filesystem every node sees. The file is read and checked \
        before anything is written. See Docs/Scaling.md.
        """)

    @Argument(help: "The experiment file (.yaml).") var file: String
    @Option(help: "How many array tasks per stage (each runs shard I/N).") var shards: Int
    @Option(help: "Output folder (default: the file's 'output', else kd-runs/experiments/NAME); the scripts go to OUTPUT/slurm/.") var output: String?
    @Option(help: "The Slurm partition (sbatch --partition; default: the cluster's default).") var partition: String?
    @Option(help: "Time limit of each task (sbatch --time, e.g. 04:00:00; default: the partition's).") var time: String?
    @Option(help: "CPUs per array task (sbatch --cpus-per-task).") var cpusPerTask: Int = 1
    @Option(help: "Memory per task (sbatch --mem, e.g. 8G; default: the partition's).") var mem: String?
    @Option(name: .customLong("kd-tool"), help: "The kd-tool binary the jobs run (default: this binary's absolute path).") var kdTool: String?
    @Option(name: .customLong("sbatch"), help: "An extra sbatch option for every job, written as an #SBATCH line (repeatable), e.g. --sbatch=--account=lab.") var extra: [String] = []
    @Flag(help: "Submit the jobs now (runs submit.sh) and print their job ids.") var submit = false

    func run() throws {
        guard shards >= 1 else { throw ValidationError("--shards must be at least 1, got \(shards)") }
        guard cpusPerTask >= 1 else { throw ValidationError("--cpus-per-task must be at least 1, got \(cpusPerTask)") }
        let registry = try Registration.registry()
        let fileURL = URL(fileURLWithPath: file).standardizedFileURL
        var e = try Experiment.read(file: fileURL.path, registry: registry)
        if let output { e.output = output }
        guard FileManager.default.fileExists(atPath: e.dataPath) else {
            throw e.error("data", "no such file or folder: \(e.dataPath) (a relative path is relative to the experiment file); every node must see the data at this path")
        }
        guard let binary = kdTool ?? Self.runningBinary() else {
            throw ValidationError("cannot tell where this kd-tool binary is; give its path with --kd-tool")
        }
        let plan = try SlurmPlan(experiment: e, file: fileURL.path, shards: shards, kdTool: Self.absolute(binary),
                                 partition: partition, time: time, cpusPerTask: cpusPerTask, mem: mem, extra: extra)
        let dir = try plan.write()
        print("wrote \(dir.path)/{\(SlurmPlan.stages.map { $0 + ".sbatch" }.joined(separator: ", ")), finish.sbatch, submit.sh}: \(shards) shards, \(plan.studyFolders.count) stud\(plan.studyFolders.count == 1 ? "y" : "ies"), kd-tool \(plan.kdTool)")
        guard submit else {
            print("submit with: bash \(SlurmPlan.quote(dir.appendingPathComponent("submit.sh").path))")
            return
        }
        fflush(stdout)   // our lines before submit.sh's
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [dir.appendingPathComponent("submit.sh").path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw ValidationError("submit.sh failed (status \(p.terminationStatus)); the scripts are in \(dir.path), fix the cause and run it again")
        }
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// The running executable's absolute path (Linux: /proc/self/exe).
    static func runningBinary() -> String? {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return Bundle.main.executablePath
    }
}

/// The sbatch scripts of one experiment: what ``SlurmCommand`` writes, as text (tested without a cluster).
struct SlurmPlan {
    /// The stages in the order they must run; each is one job array.
    static let stages = ["train-teachers", "train-students", "maps"]

    var file: String
    var output: String
    var shards: Int
    var kdTool: String
    var partition: String?
    var time: String?
    var cpusPerTask: Int
    var mem: String?
    var extra: [String]
    /// The job-name prefix (from the experiment file's name).
    var name: String
    /// Every study folder of the experiment with its own store, relative to `output` (reported at the end).
    var studyFolders: [String]

    init(experiment e: Experiment, file: String, shards: Int, kdTool: String, partition: String? = nil, time: String? = nil,
         cpusPerTask: Int = 1, mem: String? = nil, extra: [String] = []) throws {
        for (option, value) in [("--partition", partition), ("--time", time), ("--mem", mem)] {
            if let value, value.isEmpty || value.contains(where: { $0.isWhitespace }) {
                throw ValidationError("\(option) takes one word without spaces, got '\(value)'")
            }
        }
        for x in extra where !x.hasPrefix("-") || x.contains(where: \.isNewline) {
            throw ValidationError("--sbatch takes one sbatch option on one line starting with '-' (e.g. --sbatch=--account=lab), got '\(x)'")
        }
        self.file = file
        self.output = SlurmCommand.absolute(e.output)
        self.shards = shards
        self.kdTool = kdTool
        self.partition = partition
        self.time = time
        self.cpusPerTask = cpusPerTask
        self.mem = mem
        self.extra = extra
        let base = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        self.name = "kd-" + String(base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        self.studyFolders = Self.studyFolders(e)
    }

    /// The folders ``ExperimentRunner`` trains in: seed-N for each seed, and SWEEP/POINT/seed-N for each sweep
    /// point that changes training (a threshold-only point reads its seed's store and has none of its own).
    static func studyFolders(_ e: Experiment) -> [String] {
        var out = e.seeds.map { "seed-\($0)" }
        for sweep in e.sweeps {
            for point in sweep.points where point.teacherWidth != nil || point.dataFraction != nil || !point.options.isEmpty {
                for seed in e.seeds {
                    out.append("\(ExperimentRunner.folderName(sweep.name))/\(ExperimentRunner.folderName(point.label))/seed-\(seed)")
                }
            }
        }
        return out
    }

    /// `s` as one shell word (single quotes; a single quote inside becomes '\'').
    static func quote(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    var scriptsFolder: String { output + "/slurm" }

    private func header(job: String, array: Bool) -> String {
        var lines = ["#!/usr/bin/env bash", "#SBATCH --job-name=\(name)-\(job)"]
        if array { lines.append("#SBATCH --array=1-\(shards)") }
        // Relative to the job's working folder, which is the folder sbatch is run from: OUTPUT/slurm
        // (submit.sh changes to it), so no path with spaces appears in an #SBATCH line.
        lines.append("#SBATCH --output=logs/\(job)-\(array ? "%A_%a" : "%j").log")
        lines.append("#SBATCH --cpus-per-task=\(cpusPerTask)")
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let time { lines.append("#SBATCH --time=\(time)") }
        if let mem { lines.append("#SBATCH --mem=\(mem)") }
        lines += extra.map { "#SBATCH \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    private var variables: String {
        """
        set -euo pipefail
        KD=\(Self.quote(kdTool))
        FILE=\(Self.quote(file))
        OUT=\(Self.quote(output))

        """
    }

    /// The job array of one stage: task I runs shard I/N of it.
    func arrayScript(stage: String) -> String {
        let n = Self.stages.firstIndex(of: stage).map { $0 + 1 } ?? 0
        return header(job: stage, array: true) + """
        # Stage \(n) of \(Self.stages.count) of \(file) (written by `kd-tool slurm`): task I of the array runs
        # shard I/\(shards) of stage \(stage). Re-running a task resumes it. Submit from this folder
        # (bash submit.sh, or: sbatch --array=I \(stage).sbatch to run task I again).
        \(variables)task=${SLURM_ARRAY_TASK_ID:?this script is one task of a job array: submit it with sbatch}
        echo "kd-tool slurm: stage \(stage), shard $task/\(shards), job ${SLURM_ARRAY_JOB_ID:-?}_$task on $(hostname), $(date -u +%FT%TZ)"
        exec "$KD" experiment run "$FILE" --output "$OUT" --shard "$task/\(shards)" --stage \(stage)

        """
    }

    /// The final job: merge the shard stores, write the tables, render one report per study folder.
    func finishScript() -> String {
        header(job: "finish", array: false) + """
        # Last job of \(file) (written by `kd-tool slurm`): joins the \(shards) shards' stores, writes the
        # experiment's tables (nothing new is computed) and one HTML report per study folder.
        \(variables)echo "kd-tool slurm: merge, tables and reports, job ${SLURM_JOB_ID:-?} on $(hostname), $(date -u +%FT%TZ)"
        "$KD" merge "$OUT"
        "$KD" experiment run "$FILE" --output "$OUT"
        for study in \(studyFolders.map(Self.quote).joined(separator: " ")); do
            "$KD" report "$OUT/$study"
        done

        """
    }

    /// Submits the stages from FIRST_STAGE on (default: all), each after the previous one succeeded.
    func submitScript() -> String {
        let names = (Self.stages + ["finish"]).joined(separator: " ")
        return """
        #!/usr/bin/env bash
        # Submits \(file) to Slurm as \(shards) shards (written by `kd-tool slurm`; Docs/Scaling.md):
        #   bash submit.sh                  every stage, each after the previous one succeeded
        #   bash submit.sh STAGE [TASKS]    from STAGE on (\(names)); TASKS (e.g. 3 or 1,4) limits
        #                                   STAGE's array to those tasks, to run failed tasks again
        # Prints one line per job: STAGE JOBID.
        set -euo pipefail
        cd "$(dirname "$0")"
        mkdir -p logs
        stages=(\(names))
        first=${1:-train-teachers}
        tasks=${2:-}
        started=0; previous=""
        for stage in "${stages[@]}"; do
            [ "$stage" = "$first" ] && started=1
            [ "$started" = 1 ] || continue
            args=(--parsable)
            [ -n "$previous" ] && args+=("--dependency=afterok:$previous")
            if [ -n "$tasks" ] && [ "$stage" = "$first" ] && [ "$stage" != finish ]; then args+=("--array=$tasks"); fi
            id=$(sbatch "${args[@]}" "$stage.sbatch")
            previous=${id%%;*}
            echo "$stage $previous"
        done
        [ "$started" = 1 ] || { echo "submit.sh: unknown stage '$first'; the stages are: ${stages[*]}" >&2; exit 2; }

        """
    }

    /// Every file: name, text, executable.
    var files: [(name: String, text: String)] {
        Self.stages.map { ($0 + ".sbatch", arrayScript(stage: $0)) } + [("finish.sbatch", finishScript()), ("submit.sh", submitScript())]
    }

    /// Writes the scripts (and the logs folder) into OUTPUT/slurm/; returns that folder.
    @discardableResult
    func write() throws -> URL {
        let dir = URL(fileURLWithPath: scriptsFolder)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("logs"), withIntermediateDirectories: true)
        for (name, text) in files {
            let url = dir.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
        return dir
    }
}
