// TCPConnection: closing one accepted connection of a ZeroMQ socket from outside libzmq. ZeroMQ has no API for it
// on a ROUTER, but shutting the descriptor down makes libzmq's I/O thread see the end of the stream and drop the
// connection the normal way (its pipe ends; nothing leaks). Only a TCP socket on the expected local port is touched,
// so a descriptor number libzmq has meanwhile closed and the process reused for something else is left alone.
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

public enum TCPConnection {
    /// The local port of `fd` if it is a TCP/IPv4 or IPv6 socket, else nil.
    public static func localPort(_ fd: Int32) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
        default:
            return nil
        }
    }

    /// Shuts the connection on `fd` down if it is a TCP socket on `localPort`; true if it did.
    @discardableResult
    public static func shutDown(_ fd: Int32, ifLocalPort port: Int) -> Bool {
        guard fd >= 0, localPort(fd) == port else { return false }
        return Glibc.shutdown(fd, Int32(SHUT_RDWR)) == 0
    }
}
