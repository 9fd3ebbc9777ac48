// swift-tools-version:6.2
// SoftRL: distributed RL on soft-token chains of thought. Layers depend one way, top to bottom:
//   COpenBLAS, CZeroMQ, CKernels (cpuid/xgetbv + per-ISA SIMD kernels in C) -> TensorMath -> TransformerLM -> SoftTokens -> PolicyGradient -> Run -> Cluster -> Monitoring -> softrl
//   PolicyGradient is the pure math (advantages, losses, AdamW, LR schedule, gradient utilities). Run owns a run:
//   its configuration (RLConfig, config files, flag overrides), prompt order, rewards, SFT, evaluation, the policy
//   update and the single-process loop; Cluster distributes a run, Run knows nothing of sockets.
//   CMPI -> MPIReduction (TensorMath's GradientReducer over Open MPI) -> Benchmarks (the rank benches) and softrl,
//   which hands it to Cluster's rank shell as a LearnerRankGroup: Cluster never imports MPI.
//   ClusterKit (the protocol cores in memory, over modelled links) sits on Cluster; Benchmarks (every `softrl bench`
//   measurement) on ClusterKit and the libraries below it; only the executable uses Benchmarks.
//   Tasks (no model; TensorMath's SplitMix64 generates its problems) and Transport (no training loop) sit beside
//   them. TextTokenizers (Hugging Face tokenizer.json, no model, no tasks) sits under Tasks. Monitoring (Prometheus
//   endpoint, TensorBoard files, run metadata, `top` and `report` views) reads plain values from Cluster (StepMetrics,
//   actor status) through the services' hook closures; Cluster never imports it.
import PackageDescription

// Checked -O everywhere: hot loops use unsafe pointers already, and a failed precondition must trap, not loop.
let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "SoftRL",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "softrl", targets: ["softrl"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0")
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        // Open MPI's header only: libmpi is dlopened by MPIReduction when a launcher made the process a rank.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI"),
        // C, not Swift: per-function target attributes (avx2/fma, avx512) let one binary built for baseline x86-64
        // carry wider paths chosen at run time by cpuid; Swift has no per-function target features.
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "TensorMath", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: v5),
        .target(name: "TransformerLM", dependencies: ["TensorMath"], swiftSettings: v5),
        // The learner's ranks on several hosts: a GradientReducer and broadcasts over Open MPI.
        .target(name: "MPIReduction", dependencies: ["CMPI", "TensorMath"], swiftSettings: v5),
        .target(name: "TextTokenizers", dependencies: [], swiftSettings: v5),
        .target(name: "Tasks", dependencies: ["TextTokenizers", "TensorMath"], swiftSettings: v5),
        .target(name: "SoftTokens", dependencies: ["TransformerLM", "TensorMath", "Tasks"], swiftSettings: v5),
        .target(
            name: "PolicyGradient", dependencies: ["SoftTokens", "TransformerLM", "TensorMath", "Tasks"],
            swiftSettings: v5),
        .target(
            name: "Run", dependencies: ["PolicyGradient", "SoftTokens", "TransformerLM", "TensorMath", "Tasks"],
            swiftSettings: v5),
        .target(
            name: "Transport",
            dependencies: [
                "CZeroMQ", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto")
            ], swiftSettings: v5),
        .target(
            name: "Cluster",
            dependencies: [
                "Transport", "Run", "PolicyGradient", "SoftTokens", "TransformerLM", "Tasks",
                .product(name: "Logging", package: "swift-log")
            ], swiftSettings: v5),
        // The in-memory cluster: the protocol cores driven over modelled links (tests, simulations, fuzzing).
        .target(
            name: "ClusterKit",
            dependencies: [
                "Cluster", "Run", "Transport", "PolicyGradient", "SoftTokens", "TransformerLM", "Tasks", "TensorMath",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections")
            ], swiftSettings: v5),
        // Every benchmark `softrl bench` runs: numbers only, the executable prints them.
        .target(
            name: "Benchmarks",
            dependencies: [
                "ClusterKit", "Cluster", "MPIReduction", "Run", "Transport", "PolicyGradient", "SoftTokens",
                "TransformerLM", "Tasks", "TensorMath", "TextTokenizers"
            ], swiftSettings: v5),
        .target(
            name: "Monitoring",
            dependencies: [
                "Cluster", "Run", "TransformerLM", "TensorMath",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Prometheus", package: "swift-prometheus")
            ], swiftSettings: v5),
        .executableTarget(
            name: "softrl",
            dependencies: [
                "Benchmarks", "Cluster", "Monitoring", "MPIReduction", "Run", "PolicyGradient", "SoftTokens",
                "TransformerLM", "Tasks", "TextTokenizers", "Transport",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ], swiftSettings: v5),
        // Helpers more than one test target uses (the built `softrl`, a central difference); tests only.
        .target(name: "SoftRLTestSupport", path: "Tests/SoftRLTestSupport", swiftSettings: v5),
        .testTarget(name: "TensorMathTests", dependencies: ["TensorMath"], swiftSettings: v5),
        .testTarget(
            name: "TransformerLMTests", dependencies: ["TransformerLM", "SoftRLTestSupport"],
            resources: [.copy("Fixtures")], swiftSettings: v5),
        .testTarget(
            name: "TextTokenizersTests", dependencies: ["TextTokenizers"], resources: [.copy("Fixtures")],
            swiftSettings: v5),
        .testTarget(name: "TasksTests", dependencies: ["Tasks", "TextTokenizers"], swiftSettings: v5),
        .testTarget(
            name: "SoftTokensTests", dependencies: ["SoftTokens", "Tasks", "TextTokenizers", "SoftRLTestSupport"],
            swiftSettings: v5),
        .testTarget(name: "PolicyGradientTests", dependencies: ["PolicyGradient", "TensorMath"], swiftSettings: v5),
        .testTarget(
            name: "RunTests", dependencies: ["Run", "PolicyGradient", "SoftTokens", "Tasks", "TransformerLM"],
            swiftSettings: v5),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TensorMath"], swiftSettings: v5),
        .testTarget(
            name: "ClusterTests", dependencies: ["Cluster", "ClusterKit", "SoftRLTestSupport"], swiftSettings: v5),
        .testTarget(name: "MPIReductionTests", dependencies: ["MPIReduction"], swiftSettings: v5),
        .testTarget(name: "MonitoringTests", dependencies: ["Monitoring", "SoftRLTestSupport"], swiftSettings: v5),
        // Fuzzing: the targets' harness, the libFuzzer executable (built by scripts/fuzz.sh into .build-fuzz
        // with -sanitize=fuzzer,address; a plain build makes it a replayer), and the corpus replay tests.
        .target(
            name: "FuzzHarness",
            dependencies: [
                "ClusterKit", "Cluster", "Run", "SoftTokens", "TransformerLM", "Tasks", "TextTokenizers", "Transport"
            ], swiftSettings: v5),
        .executableTarget(name: "SoftRLFuzz", dependencies: ["FuzzHarness"], swiftSettings: v5),
        .testTarget(
            name: "FuzzTests", dependencies: ["FuzzHarness", "Cluster", "Transport", "TransformerLM"], swiftSettings: v5
        )
    ]
)
