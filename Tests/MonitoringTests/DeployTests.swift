// Launchers. deploy/slurm/softrl.sbatch runs for real under Debian's slurm-wlm on this one machine: the test
// writes a slurm.conf (loopback ports, auth/none, one node = this host), starts slurmctld and slurmd, submits
// the script with `sbatch --wait`, and checks the job completed, the learner trained and the actor joined under
// its Slurm id. With one node the actors share the learner's node; the multi-node path (actors on the other
// nodes) is the same srun line with another --nodelist and is not exercised here.
// The Kubernetes manifests and the Containerfile cannot run here (no cluster, no container engine): they are
// checked statically: they parse, and every launcher passes only flags that `softrl` accepts.
import XCTest
import Foundation

final class DeployTests: XCTestCase {
    func testSbatchRunsLearnerAndActorUnderRealSlurm() throws {
        let slurmctld = try OpsHarness.tool("slurmctld", reason: "Debian package slurm-wlm")
        let slurmd = try OpsHarness.tool("slurmd", reason: "Debian package slurm-wlm")
        let sbatch = try OpsHarness.tool("sbatch", reason: "Debian package slurm-wlm")
        let scontrol = try OpsHarness.tool("scontrol", reason: "Debian package slurm-wlm")
        let sinfo = try OpsHarness.tool("sinfo", reason: "Debian package slurm-wlm")
        guard getuid() == 0 else {
            throw XCTSkip("slurmd must run as root to launch job steps; this test runs as uid \(getuid())")
        }
        let h = try OpsHarness(name: "slurm")
        defer { h.shutdown() }
        let node = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        guard (try? OpsHarness.run("/usr/bin/getent", ["hosts", node]))?.status == 0 else {
            throw XCTSkip("host name \(node) does not resolve (getent hosts): slurmd and the actors could not reach it")
        }
        let d = h.dir.path
        for sub in ["state", "spool"] {
            try FileManager.default.createDirectory(atPath: "\(d)/\(sub)", withIntermediateDirectories: true)
        }
        let ctldPort = try OpsHarness.freePort(), dPort = try OpsHarness.freePort(),
            learnerPort = try OpsHarness.freePort()
        let metricsPort = try OpsHarness.freePort()
        let conf = """
            ClusterName=softrltest
            SlurmctldHost=\(node)
            SlurmctldPort=\(ctldPort)
            SlurmdPort=\(dPort)
            AuthType=auth/none
            CredType=cred/none
            SlurmUser=root
            SlurmdUser=root
            StateSaveLocation=\(d)/state
            SlurmdSpoolDir=\(d)/spool
            SlurmctldPidFile=\(d)/slurmctld.pid
            SlurmdPidFile=\(d)/slurmd.pid
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            MpiDefault=none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            ReturnToService=2
            NodeName=\(node) NodeAddr=127.0.0.1 CPUs=\(ProcessInfo.processInfo.activeProcessorCount) State=UNKNOWN
            PartitionName=test Nodes=\(node) Default=YES MaxTime=INFINITE State=UP
            """
        let confPath = "\(d)/slurm.conf"
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        let env = ["SLURM_CONF": confPath]
        let ctld = try h.spawn(slurmctld, ["-D", "-i", "-f", confPath], log: "slurmctld", environment: env)
        let sd = try h.spawn(slurmd, ["-D", "-f", confPath, "-N", node], log: "slurmd", environment: env)
        let idle = h.waitUntil(60) {
            ((try? OpsHarness.run(sinfo, ["-h", "-o", "%T"], environment: env))?.output ?? "").contains("idle")
        }
        guard idle, ctld.isRunning, sd.isRunning else {
            throw XCTSkip(
                "slurmctld/slurmd did not come up on this machine (idle=\(idle)); slurmctld:\n\(h.log("slurmctld").suffix(1500))\nslurmd:\n\(h.log("slurmd").suffix(1500))"
            )
        }
        let base = "\(d)/base"
        XCTAssertEqual(
            try OpsHarness.run(h.exe.path, ["model", "init", "--preset", "tiny", "--seed", "1", "--out", base]).status,
            0)
        let script = OpsHarness.repoRoot.appendingPathComponent("deploy/slurm/softrl.sbatch").path
        var jobEnv = env
        jobEnv["SOFTRL"] = h.exe.path; jobEnv["SOFTRL_RUN_DIR"] = "\(d)/run"; jobEnv["SOFTRL_PORT"] = "\(learnerPort)"
        jobEnv["SOFTRL_METRICS_PORT"] = "\(metricsPort)"; jobEnv["OPENBLAS_NUM_THREADS"] = "1"
        let (status, out) = try OpsHarness.run(
            sbatch,
            [
                "--wait", "--nodes=1", "-o", "\(d)/job-%j.out", script,
                "--base", base, "--steps", "3", "--group-size", "2", "--prompts", "2", "--mode", "soft"
            ],
            timeout: 400, environment: jobEnv)
        let jobId = out.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "?"
        let jobOut = (try? String(contentsOfFile: "\(d)/job-\(jobId).out", encoding: .utf8)) ?? "(no job output)"
        XCTAssertEqual(status, 0, "sbatch --wait: \(out)\njob output:\n\(jobOut)")
        let show = (try? OpsHarness.run(scontrol, ["show", "job", jobId], environment: env))?.output ?? ""
        XCTAssertTrue(show.contains("JobState=COMPLETED") && show.contains("ExitCode=0:0"), show)
        XCTAssertTrue(jobOut.contains("softrl: learner on \(node) (tcp://\(node):\(learnerPort))"), jobOut)
        XCTAssertTrue(
            jobOut.contains("actor \(node)-0 joined"),
            "the actor started by srun reached the learner at the address the script passed:\n\(jobOut)")
        XCTAssertTrue(jobOut.contains("learner stopped at step 3"), jobOut)
        // Relays are on by default: the actor serves what it holds to other actors, under CURVE like the learner.
        XCTAssertTrue(
            jobOut.contains("serving weights to other actors at tcp://")
                && jobOut.contains("(CURVE, allow-listed keys only)"), jobOut)
        let metrics = (try? String(contentsOfFile: "\(d)/run/metrics.jsonl", encoding: .utf8)) ?? ""
        XCTAssertEqual(metrics.split(separator: "\n").count, 3)
    }

    static func longFlags(_ text: String) -> Set<String> {
        let re = try! NSRegularExpression(pattern: "--[a-z][a-z-]+")
        return Set(
            re.matches(in: text, range: NSRange(text.startIndex..., in: text)).map {
                (text as NSString).substring(with: $0.range)
            })
    }

    func testLaunchersUseFlagsSoftrlAccepts() throws {
        let h = try OpsHarness(name: "deploy")
        defer { h.shutdown() }
        var accepted: [String: Set<String>] = [:]
        for sub in ["learner", "actor"] {
            let help = try OpsHarness.run(h.exe.path, [sub, "--help"]).output
            accepted[sub] = Self.longFlags(help)
        }
        let root = OpsHarness.repoRoot.appendingPathComponent("deploy")
        let files = [
            "slurm/softrl.sbatch", "systemd/softrl-learner.service", "systemd/softrl-actor@.service",
            "launch-actors.sh", "k8s/learner.yaml", "k8s/actors.yaml"
        ]
        var used: [String: Set<String>] = ["learner": [], "actor": []]
        for f in files {
            let text = try String(contentsOf: root.appendingPathComponent(f), encoding: .utf8)
            for sub in ["learner", "actor"] {
                let lines = text.split(separator: "\n").filter { l in
                    !l.trimmingCharacters(in: .whitespaces).hasPrefix("#")
                        && (l.contains("softrl \(sub) ") || l.contains("\"\(sub)\", ") || l.contains("(\(sub) ")
                            || l.contains("\" \(sub) "))
                }
                for l in lines {
                    let flags = Self.longFlags(String(l))
                    let unknown = flags.subtracting(accepted[sub]!).subtracting([
                        "--nodes", "--ntasks", "--nodelist", "--overlap", "--kill-on-bad-exit", "--ntasks-per-node"
                    ])
                    XCTAssertTrue(
                        unknown.isEmpty,
                        "\(f) passes \(unknown.sorted()) to softrl \(sub), which does not accept them:\n\(l)")
                    used[sub]!.formUnion(flags)
                }
            }
        }
        // Every launcher exposes metrics the same way.
        XCTAssertTrue(
            used["learner"]!.isSuperset(of: ["--bind", "--metrics-port", "--metrics-host", "--threads"]),
            "\(used["learner"]!)")
        XCTAssertTrue(
            used["actor"]!.isSuperset(of: ["--connect", "--id", "--threads", "--metrics-port", "--metrics-host"]),
            "\(used["actor"]!)")
    }

    func testKubernetesManifestsParseAndWireLearnerToActors() throws {
        let python = try OpsHarness.python(with: "yaml")
        let dir = OpsHarness.repoRoot.appendingPathComponent("deploy/k8s").path
        let script = """
            import sys, yaml, glob, json
            docs = [d for f in sorted(glob.glob(sys.argv[1] + '/*.yaml')) for d in yaml.safe_load_all(open(f)) if d]
            print(json.dumps([{'kind': d['kind'], 'name': d['metadata']['name'], 'spec': d['spec']} for d in docs]))
            """
        let (status, out) = try OpsHarness.run(python, ["-c", script, dir])
        XCTAssertEqual(status, 0, out)
        let docs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], out)
        let kinds = Set(docs.map { "\($0["kind"]!)/\($0["name"]!)" })
        XCTAssertEqual(kinds, ["Service/softrl-learner", "StatefulSet/softrl-learner", "Deployment/softrl-actor"])
        let sts = try XCTUnwrap(docs.first { $0["kind"] as? String == "StatefulSet" }?["spec"] as? [String: Any])
        XCTAssertEqual(sts["serviceName"] as? String, "softrl-learner")
        XCTAssertNotNil(sts["volumeClaimTemplates"], "the run directory needs a PVC")
        let actors = try XCTUnwrap(docs.first { $0["kind"] as? String == "Deployment" }?["spec"] as? [String: Any])
        let args = "\(actors)"
        XCTAssertTrue(
            args.contains("tcp://softrl-learner-0.softrl-learner:5555"),
            "actors connect to the StatefulSet pod through the headless Service")
    }
}
