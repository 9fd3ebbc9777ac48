// The learner's ranks as an Open MPI process group: the GradientReducer that sums every rank's gradient, the
// broadcasts that carry rank 0's bytes and weights to the others, and the launch detection that keeps MPI out of
// a plain `softrl learner`. libmpi is loaded with dlopen only when a launcher made this process a rank (CMPI's
// shim.h says why), so the binary starts, and actors run, on hosts without Open MPI.
//
// Sum order: MPI_Allreduce may bracket a float sum differently on different ranks (recursive doubling) and
// from one algorithm to the next, so ranks could hold weights that differ in the last bit and drift apart.
// `allReduceSum` is MPI_Reduce to rank 0 followed by MPI_Bcast from rank 0: every rank receives rank 0's bits,
// identical by construction, and the reduction's bracketing depends only on the rank count and the buffer size
// (Open MPI's tuned component chooses its algorithm from those), so a rerun with as many ranks sums the same way.
// With two ranks there is only one possible sum, a0 + a1 (IEEE addition is commutative). The cost over a ring
// allreduce is at most twice the bytes per link (`softrl bench allreduce` measures both).
import CMPI
import Foundation
import TensorMath

public struct MPIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How this process was started: as one of several ranks by a launcher, or alone.
public enum MPILaunch {
    /// Variables a launcher sets in each rank, with the rank count: Open MPI's mpirun (OMPI_COMM_WORLD_SIZE),
    /// Slurm's `srun --mpi=pmi2` (PMI_SIZE) and `srun --mpi=pmix` (PMIX_RANK; the count is Slurm's task count).
    public static func rankCount(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let n = environment[key].flatMap({ Int($0) }) { return n }
        }
        if environment["PMIX_RANK"] != nil {
            return ["SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"].lazy.compactMap { environment[$0].flatMap { Int($0) } }
                .first ?? 2
        }
        return nil
    }

    /// True when a launcher started this process as one of two or more ranks. One rank needs no MPI at all.
    public static func isMultiRank(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        (rankCount(environment: environment) ?? 1) > 1
    }
}

public final class MPIProcessGroup: GradientReducer {
    /// Open MPI 3, 4 and 5 keep the soname libmpi.so.40; the unversioned name exists only with the -dev package.
    public static let libraryNames = ["libmpi.so.40", "libmpi.so"]
    /// Elements per MPI call: counts are C ints, so a buffer beyond 2^31 elements goes in pieces.
    static let maxElementsPerCall = 1 << 30

    private var api = softrl_mpi_api()
    public let rank: Int
    public let size: Int
    /// MPI_Get_processor_name: the host this rank runs on.
    public let hostName: String
    private var finalized = false

    /// Loads libmpi, initialises MPI (MPI_THREAD_SERIALIZED: the learner makes its MPI calls from its update thread
    /// and its socket thread, never at once) and makes MPI errors return codes instead of aborting, so a failed
    /// collective surfaces as a thrown error with a message.
    public init() throws {
        var api = softrl_mpi_api()
        let names = Self.libraryNames.map { strdup($0) }
        defer { names.forEach { free($0) } }
        let failure = names.map { UnsafePointer<CChar>($0) }.withUnsafeBufferPointer {
            softrl_mpi_load(&api, $0.baseAddress, Int32($0.count))
        }
        self.api = api
        if let failure {
            throw MPIError(
                "this process was started as an MPI rank but Open MPI's library could not be loaded (\(String(cString: failure))): "
                    + "install Open MPI on every host of the job (Debian: apt-get install openmpi-bin), or run `softrl learner` without mpirun/srun"
            )
        }
        var provided: Int32 = 0
        try Self.check(api.init_thread!(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided), "MPI_Init_thread", api: api)
        guard provided >= Int32(MPI_THREAD_SERIALIZED) else {
            _ = api.finalize!()
            throw MPIError(
                "this Open MPI provides thread level \(provided), the learner needs MPI_THREAD_SERIALIZED (\(MPI_THREAD_SERIALIZED)): use an Open MPI built with thread support"
            )
        }
        try Self.check(api.comm_set_errhandler!(api.comm_world, api.errors_return), "MPI_Comm_set_errhandler", api: api)
        var r: Int32 = 0, n: Int32 = 0
        try Self.check(api.comm_rank!(api.comm_world, &r), "MPI_Comm_rank", api: api)
        try Self.check(api.comm_size!(api.comm_world, &n), "MPI_Comm_size", api: api)
        rank = Int(r); size = Int(n)
        var name = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var length: Int32 = 0
        _ = api.processor_name!(&name, &length)
        hostName = String(cString: name)
    }

    deinit { finalize() }

    /// Ends MPI on this rank (every rank must, or the launcher reports an abnormal exit). Idempotent.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = api.finalize!()
    }

    /// Stops every rank of the job (the launcher kills the others) after printing `message`; for a group that can
    /// no longer agree, where waiting would hang the survivors.
    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("rank \(rank) of \(size): \(message)\n".utf8))
        _ = api.abort!(api.comm_world, 1)
        exit(1)
    }

    static func check(_ code: Int32, _ call: String, api: softrl_mpi_api, rank: Int? = nil) throws {
        guard code != MPI_SUCCESS else { return }
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        let described = api.error_string.map { $0(code, &text, &length) == MPI_SUCCESS } ?? false
        let why = described ? String(cString: text) : "error code \(code)"
        let who = rank.map { "rank \($0): " } ?? ""
        throw MPIError(
            "\(who)\(call) failed: \(why). A rank of the learner group has died or become unreachable; "
                + "the update was not applied; restart the group with --resume (any number of ranks)")
    }

    private func check(_ code: Int32, _ call: String) throws { try Self.check(code, call, api: api, rank: rank) }

    /// Seconds on MPI's clock (MPI_Wtime).
    public func now() -> Double { api.wtime!() }

    public func barrier() throws { try check(api.barrier!(api.comm_world), "MPI_Barrier") }

    // MARK: sums (GradientReducer)

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try reduceThenBroadcast(buffer, type: api.type_float)
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try reduceThenBroadcast(buffer, type: api.type_double)
    }

    private func reduceThenBroadcast<T>(_ buffer: UnsafeMutableBufferPointer<T>, type: MPI_Datatype?) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let n = min(Self.maxElementsPerCall, buffer.count - offset)
            let piece = UnsafeMutableRawPointer(base + offset)
            // Rank 0 sums in place (MPI_IN_PLACE is the address 1 in Open MPI's mpi.h); the others only send.
            let send = rank == 0 ? UnsafeRawPointer(bitPattern: 1) : UnsafeRawPointer(piece)
            try check(
                api.reduce!(send, rank == 0 ? piece : nil, Int32(n), type, api.op_sum, 0, api.comm_world), "MPI_Reduce")
            try check(api.bcast!(piece, Int32(n), type, 0, api.comm_world), "MPI_Bcast")
            offset += n
        }
    }

    /// MPI_Allreduce itself (in place), for the benchmark beside `allReduceSum`; its bracketing may differ by rank.
    public func nativeAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let n = min(Self.maxElementsPerCall, buffer.count - offset)
            try check(
                api.allreduce!(
                    UnsafeRawPointer(bitPattern: 1), base + offset, Int32(n), api.type_float, api.op_sum, api.comm_world
                ), "MPI_Allreduce")
            offset += n
        }
    }

    // MARK: broadcasts from rank 0

    /// Rank 0's floats into `buffer` on every rank (same count everywhere).
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1, let base = buffer.baseAddress else { return }
        var offset = 0
        while offset < buffer.count {
            let n = min(Self.maxElementsPerCall, buffer.count - offset)
            try check(api.bcast!(base + offset, Int32(n), api.type_float, 0, api.comm_world), "MPI_Bcast")
            offset += n
        }
    }

    /// Rank 0 passes its bytes, the others nil; every rank returns rank 0's bytes (the length travels first).
    public func broadcast(_ bytes: Data?) throws -> Data {
        precondition((rank == 0) == (bytes != nil), "rank 0, and only rank 0, supplies the bytes of a broadcast")
        var length = Int64(bytes?.count ?? 0)
        // The length as 8 raw bytes: every rank is this binary, on the same byte order.
        try check(api.bcast!(&length, Int32(MemoryLayout<Int64>.size), api.type_byte, 0, api.comm_world), "MPI_Bcast")
        guard length >= 0 else { throw MPIError("rank \(rank): broadcast announced \(length) bytes") }
        var data = bytes ?? Data(count: Int(length))
        if size > 1, length > 0 {
            try data.withUnsafeMutableBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = min(Self.maxElementsPerCall, raw.count - offset)
                    try check(
                        api.bcast!(raw.baseAddress! + offset, Int32(n), api.type_byte, 0, api.comm_world), "MPI_Bcast")
                    offset += n
                }
            }
        }
        return data
    }
}
