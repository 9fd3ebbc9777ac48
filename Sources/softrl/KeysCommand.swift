// `softrl keys generate`: CURVE key pairs for the learner and its actors, and the throw-away keys
// `softrl local` makes for each run.
import ArgumentParser
import Cluster
import Foundation
import Transport

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "CURVE keys for authenticated, encrypted cluster links.",
        subcommands: [KeysGenerate.self])
}

struct KeysGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write DIR/NAME.key_secret (mode 0600, stays on its host) and DIR/NAME.key (public, safe to copy).")
    @Option(help: "Directory for the key files (created if missing).") var out: String
    @Option(help: "Key name: 'learner' for the learner, the actor id for an actor.") var name: String = ClusterSecurity
        .learnerKeyName
    @Option(help: "Also append `PUBLICKEY NAME` to this allow-list file (the learner's KEYDIR/allowed_actors).")
    var allow: String?

    func validate() throws {
        guard !name.isEmpty, name.utf8.count <= 128,
            name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != "/" })
        else {
            throw CLIError("--name '\(name)' must be printable ASCII without spaces or '/'")
        }
        if allow != nil && name == ClusterSecurity.learnerKeyName {
            throw CLIError("--allow is for actor keys; give --name ACTOR-ID")
        }
    }

    func run() throws {
        let dir = URL(fileURLWithPath: out)
        let pair = try CurveKeyPair.generate()
        try pair.save(to: dir, name: name)
        print(
            "wrote \(CurveKeyPair.secretFile(dir, name).path) (secret, 0600) and \(CurveKeyPair.publicFile(dir, name).path)"
        )
        print("public key: \(pair.publicKey)")
        if let allow {
            try KeysGenerate.appendAllowed(pair.publicKey, name: name, to: URL(fileURLWithPath: allow))
            print("allowed as '\(name)' in \(allow) (a running learner picks it up on SIGHUP)")
        } else if name != ClusterSecurity.learnerKeyName {
            print(
                "allow it on the learner host:  echo '\(pair.publicKey) \(name)' >> KEYDIR/\(ClusterSecurity.allowListName)"
            )
        }
    }

    static func appendAllowed(_ key: String, name: String, to file: URL) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: file.path) {
            try fm.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try "# allowed actor keys: PUBLICKEY actor-name (softrl keys generate --allow)\n".write(
                to: file, atomically: true, encoding: .utf8)
        }
        _ = try AllowList(contentsOf: file) // never append to a list that is already broken
        let h = try FileHandle(forWritingTo: file)
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data("\(key) \(name)\n".utf8))
    }
}

/// Per-run keys for `softrl local`: RUN_DIR/keys/learner (learner pair + allow-list) and RUN_DIR/keys/actors
/// (actor pairs local-0... + learner.key). Regenerated every run.
enum LocalKeys {
    static func make(in runDir: URL, actors: Int) throws -> (learner: URL, actors: URL) {
        let root = runDir.appendingPathComponent("keys")
        try? FileManager.default.removeItem(at: root)
        let learnerDir = root.appendingPathComponent("learner"), actorDir = root.appendingPathComponent("actors")
        let learner = try CurveKeyPair.generate()
        try learner.save(to: learnerDir, name: ClusterSecurity.learnerKeyName)
        try FileManager.default.createDirectory(at: actorDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: CurveKeyPair.publicFile(learnerDir, ClusterSecurity.learnerKeyName),
            to: CurveKeyPair.publicFile(actorDir, ClusterSecurity.learnerKeyName))
        for i in 0..<actors {
            let pair = try CurveKeyPair.generate()
            try pair.save(to: actorDir, name: "local-\(i)")
            try KeysGenerate.appendAllowed(
                pair.publicKey, name: "local-\(i)", to: learnerDir.appendingPathComponent(ClusterSecurity.allowListName)
            )
        }
        return (learnerDir, actorDir)
    }
}
