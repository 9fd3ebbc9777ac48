// `softrl actor`: connects to a learner (or relay), generates rollouts, optionally relays weights. Wiring only: the
// service is in Cluster.
import ArgumentParser
import Cluster
import Foundation
import Monitoring
import TensorMath

struct ActorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actor", abstract: "Run an actor: connect to a learner and generate rollouts.")
    @Option(help: "Learner endpoint, e.g. tcp://learner-host:5555.") var connect: String
    @Option(help: "Actor id (unique in the cluster; default host-pid, or with --keys the name of the key).") var id:
        String?
    @Option(help: "Groups generated together per batch.") var slots: Int = 2
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Option(
        help:
            "Key directory: this actor's NAME.key_secret/NAME.key (NAME = --id, or the only one there) and the learner's learner.key."
    ) var keys: String?
    @Option(
        help:
            "Relay: serve the weights this actor holds to other actors at this endpoint (tcp://*:PORT; PORT * picks a free one). With --keys: CURVE, serving only the keys in KEYS/allowed_actors (copy the learner's)."
    )
    var relayBind: String?
    @Option(
        help:
            "Relay endpoint to announce, if others must dial another address than --relay-bind's (default: it, with * replaced by this host's name)."
    )
    var relayAdvertise: String?
    @Flag(
        help:
            "Log the SHA-256 of the fp32 weights after each load (checks bf16 wire rounding end to end; costs a hash of the model per version)."
    ) var logWeightsDigest = false
    @OptionGroup var metricsOptions: MetricsOptionsGroup
    @OptionGroup var computeOptions: ComputeOptionsGroup

    func validate() throws {
        guard ["tcp://", "ipc://", "inproc://"].contains(where: connect.hasPrefix) else {
            throw CLIError(
                "--connect '\(connect)' is not a ZeroMQ endpoint: use tcp://HOST:PORT, e.g. tcp://learner-host:5555")
        }
        if relayBind != nil, let keys,
            !FileManager.default.fileExists(
                atPath: URL(fileURLWithPath: keys).appendingPathComponent(ClusterSecurity.allowListName).path)
        {
            throw CLIError(
                "--relay-bind with --keys needs the cluster's allow-list in \(keys) (the relay serves weights only to those keys): copy the learner's keys/\(ClusterSecurity.allowListName) there"
            )
        }
        if relayBind == nil && relayAdvertise != nil { throw CLIError("--relay-advertise needs --relay-bind") }
        for (flag, e) in [("--relay-bind", relayBind), ("--relay-advertise", relayAdvertise)] {
            if let e, !(e.hasPrefix("tcp://") || e.hasPrefix("ipc://")) {
                throw CLIError("\(flag) '\(e)' is not a ZeroMQ endpoint: use tcp://HOST:PORT, e.g. tcp://*:5601")
            }
        }
    }

    func run() throws {
        BLASThreads.set(threads)
        print(try computeOptions.apply())
        ProcessControl.installStopHandlers()
        var options = ActorOptions()
        options.connect = connect
        if let keys {
            let k = try ActorKeys(directory: URL(fileURLWithPath: keys), name: id)
            options.keys = k
            options.actorId = k.name // the learner knows this actor by its key's allowed name
        }
        if let id { options.actorId = id }
        options.slots = max(1, slots)
        options.relayBind = relayBind; options.relayAdvertise = relayAdvertise
        options.logWeightsDigest = logWeightsDigest
        let service = ActorService(options: options)
        // MONITORING HOOK (wiring): the actor's Prometheus endpoint, if asked.
        var monitor: ActorMonitor?
        if metricsOptions.metricsPort != nil {
            monitor = try ActorMonitor(actorId: options.actorId, endpoint: metricsOptions.endpoint)
            monitor?.attach(to: service)
        }
        defer { monitor?.close() }
        try service.run()
    }
}
