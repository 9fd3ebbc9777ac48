// CURVE key pairs: generation with libzmq/libsodium, Z85 text (40 characters for 32 bytes), and the
// key files `softrl keys generate` writes: NAME.key (public, shareable) and NAME.key_secret (secret, mode 0600).
// Each file holds the Z85 text on one line; other lines starting with # are comments ('#' is also a Z85 digit).
import CZeroMQ
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    /// True when this libzmq was built with CURVE (libsodium or tweetnacl).
    public static var isAvailable: Bool { zmq_has("curve") == 1 }

    /// A fresh random pair.
    public static func generate() throws -> CurveKeyPair {
        guard isAvailable else {
            throw TransportError(operation: "zmq_curve_keypair", errno: ENOTSUP, message: unavailableMessage)
        }
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw TransportError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: String(cString: pub), secretKey: String(cString: sec))
    }

    /// The pair whose secret key is `secretKey` (the public key is derived, so a pair on disk cannot disagree).
    public init(secretKey: String) throws {
        guard Self.isValidZ85Key(secretKey) else {
            throw TransportError(operation: "read secret key", errno: EINVAL, message: "not a 40-character Z85 key")
        }
        guard Self.isAvailable else {
            throw TransportError(operation: "zmq_curve_public", errno: ENOTSUP, message: Self.unavailableMessage)
        }
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secretKey) == 0 else { throw TransportError.last("zmq_curve_public") }
        self.publicKey = String(cString: pub)
        self.secretKey = secretKey
    }

    private init(publicKey: String, secretKey: String) { self.publicKey = publicKey; self.secretKey = secretKey }

    static let unavailableMessage =
        "this libzmq has no CURVE support: install a libzmq built with libsodium (Debian/Ubuntu: `bash scripts/setup.sh` installs libzmq3-dev)"

    static let z85Alphabet = Set(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// 40 characters of the Z85 alphabet (a 32-byte key).
    public static func isValidZ85Key(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { z85Alphabet.contains($0) }
    }

    /// Z85 text of a 32-byte binary key (the form ZAP requests carry).
    public static func z85(_ binary: Data) -> String? {
        guard binary.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        let ok = binary.withUnsafeBytes { zmq_z85_encode(&out, $0.bindMemory(to: UInt8.self).baseAddress, 32) != nil }
        return ok ? String(cString: out) : nil
    }

    // MARK: files

    public static func publicFile(_ dir: URL, _ name: String) -> URL { dir.appendingPathComponent("\(name).key") }
    public static func secretFile(_ dir: URL, _ name: String) -> URL {
        dir.appendingPathComponent("\(name).key_secret")
    }

    /// Writes NAME.key (0644) and NAME.key_secret (0600, created with that mode: never readable by others, not even briefly).
    /// Refuses to overwrite an existing pair: replacing a key locks its holder out.
    public func save(to dir: URL, name: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        let sec = Self.secretFile(dir, name), pub = Self.publicFile(dir, name)
        for f in [sec, pub] where fm.fileExists(atPath: f.path) {
            throw TransportError(
                operation: "save key", errno: EEXIST,
                message:
                    "\(f.path) exists; delete it first if you really mean to replace this key (its holder is locked out until it gets the new one)"
            )
        }
        let header = "# CURVE \(name) (softrl keys generate, \(ISO8601DateFormatter().string(from: Date())))\n"
        let fd = open(sec.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw TransportError.last("create \(sec.path)") }
        let secretText =
            header + "# SECRET: keep this file private (mode 0600); never copy it off the host that uses it\n"
            + secretKey + "\n"
        let written = secretText.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        guard written == secretText.utf8.count else { throw TransportError.last("write \(sec.path)") }
        try (header + publicKey + "\n").write(to: pub, atomically: true, encoding: .utf8)
    }

    /// Reads NAME.key_secret from `dir` (and checks NAME.key, if present, matches it). Like ssh with a private key,
    /// refuses a secret key file that its group or others may read or write, and says which chmod fixes it.
    public static func load(from dir: URL, name: String) throws -> CurveKeyPair {
        let sec = secretFile(dir, name)
        guard FileManager.default.fileExists(atPath: sec.path) else {
            throw TransportError(
                operation: "load key", errno: ENOENT,
                message: "\(sec.path) not found: make it with `softrl keys generate --out \(dir.path) --name \(name)`")
        }
        try checkPrivate(sec)
        let pair: CurveKeyPair
        do { pair = try CurveKeyPair(secretKey: try readKeyText(sec)) } catch let e as TransportError
            where e.operation == "load key"
        { throw e } catch {
            throw TransportError(operation: "load key", errno: EINVAL, message: "\(sec.path): \(error)")
        }
        let pub = publicFile(dir, name)
        if FileManager.default.fileExists(atPath: pub.path), try readKeyText(pub) != pair.publicKey {
            throw TransportError(
                operation: "load key", errno: EINVAL,
                message: "\(pub.path) is not the public half of \(sec.path): regenerate the pair")
        }
        return pair
    }

    /// Throws unless only the owner may read or write `file` (permission bits 0o077 clear).
    static func checkPrivate(_ file: URL) throws {
        var st = stat()
        guard stat(file.path, &st) == 0 else {
            throw TransportError(
                operation: "load key", errno: errno,
                message: "\(file.path): cannot stat (\(String(cString: strerror(errno))))")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw TransportError(
                operation: "load key", errno: EACCES,
                message:
                    "\(file.path) has permissions \(String(format: "%04o", mode)), which let other users read or change this secret key: type `chmod 600 \(file.path)` (and replace the key if others may have copied it)"
            )
        }
    }

    /// A public key file's key (e.g. learner.key on an actor host).
    public static func loadPublic(_ file: URL) throws -> String {
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw TransportError(
                operation: "load key", errno: ENOENT,
                message:
                    "\(file.path) not found: copy it from the host where it was generated (public keys are safe to copy)"
            )
        }
        return try readKeyText(file)
    }

    /// The key in a key file: the first line that is a 40-character Z85 key ('#' is also a Z85 digit, so a key line
    /// wins over the comment rule). Any line ending (LF, CRLF, CR) is accepted; bytes that are not UTF-8 are kept as
    /// U+FFFD so the message can point at the line instead of refusing the whole file without saying where.
    static func readKeyText(_ file: URL) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw TransportError(
                operation: "load key", errno: EIO, message: "\(file.path): cannot read (\(error.localizedDescription))")
        }
        let lines = splitLines(String(decoding: data, as: UTF8.self)).map { $0.trimmingCharacters(in: .whitespaces) }
        if let key = lines.first(where: isValidZ85Key) { return key }
        let hint =
            "a key file holds one 40-character Z85 key line and '#' comments (`softrl keys generate` writes them)"
        if let (i, line) = lines.enumerated().first(where: { !$0.element.isEmpty && !$0.element.hasPrefix("#") }) {
            throw TransportError(
                operation: "load key", errno: EINVAL,
                message:
                    "\(file.path) line \(i + 1): \(String(reflecting: String(line.prefix(48)))) (\(line.utf8.count) bytes) is not a 40-character Z85 key; \(hint)"
            )
        }
        throw TransportError(
            operation: "load key", errno: EINVAL,
            message: "\(file.path) holds no key, only comments or blank lines; \(hint)")
    }

    /// Lines split at LF, CRLF or CR. (Swift's "\r\n" is one Character, so splitting a CRLF text at "\n" finds none.)
    public static func splitLines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
    }
}
