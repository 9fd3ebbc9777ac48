// Process plumbing shared by the learner and actor services: a stop flag set by SIGINT/SIGTERM (the poll
// loops check it, so shutdown is always orderly), a monotonic clock, and a one-job background worker that lets
// a service keep heartbeating while it generates or trains (ZeroMQ sockets stay on the service thread).
import Foundation

/// Set by SIGINT/SIGTERM; services leave their loops when it is non-zero.
nonisolated(unsafe) public var stopSignal: Int32 = 0

public enum ProcessControl {
    /// Installs handlers that only set `stopSignal` (async-signal-safe).
    public static func installStopHandlers() {
        signal(SIGINT) { s in stopSignal = s }
        signal(SIGTERM) { s in stopSignal = s }
        signal(SIGPIPE, SIG_IGN)
    }
    public static var stopRequested: Bool { stopSignal != 0 }

    /// Seconds on a monotonic clock.
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    public static var hostName: String { ProcessInfo.processInfo.hostName }

    /// Raises the soft open-file limit to the hard one: each actor is a connection, and checkpoints and logs must
    /// still open files with hundreds connected (at the usual soft limit of 1024, or 128 in some containers, they did not).
    public static func raiseOpenFileLimit() {
        var l = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &l) == 0, l.rlim_cur < l.rlim_max else { return }
        l.rlim_cur = l.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &l)
    }
}

extension ProcessControl {
    /// The soft open-file limit (after raiseOpenFileLimit), or Int.max when unknown.
    public static func openFileLimit() -> Int {
        var l = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &l) == 0, l.rlim_cur < rlim_t(Int.max) else {
            return Int.max
        }
        return Int(clamping: l.rlim_cur)
    }

    /// Descriptors this process has open now (entries of /proc/self/fd); Int.max when the directory cannot be opened
    /// for want of a descriptor (the limit is reached), 0 where there is no /proc.
    public static func openDescriptorCount() -> Int {
        guard let d = opendir("/proc/self/fd") else { return errno == EMFILE || errno == ENFILE ? Int.max : 0 }
        defer { closedir(d) }
        var n = 0
        while readdir(d) != nil { n += 1 }
        return max(0, n - 3) // ".", ".." and the directory's own descriptor
    }
}

/// Runs one job at a time on its own thread; the owner polls `takeResult()`.
public final class BackgroundWorker<Result>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result?
    private var running = false
    private let queue: DispatchQueue

    public init(label: String) { queue = DispatchQueue(label: label) }

    public var isBusy: Bool { lock.lock(); defer { lock.unlock() }; return running || result != nil }

    public func start(_ job: @escaping () -> Result) {
        lock.lock(); precondition(!running && result == nil, "worker already busy"); running = true; lock.unlock()
        queue.async { [self] in
            let r = job()
            lock.lock(); result = r; running = false; lock.unlock()
        }
    }

    public func takeResult() -> Result? {
        lock.lock(); defer { lock.unlock() }
        let r = result; result = nil
        return r
    }

    /// Blocks until the running job (if any) finishes; used on shutdown.
    public func waitIdle() {
        while true { lock.lock(); let r = running; lock.unlock(); if !r { return }; usleep(2000) }
    }
}
