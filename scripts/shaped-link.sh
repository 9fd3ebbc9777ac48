# Sourced by the benches that shape a link with tc (bench-link.sh, bench-mpi-link.sh): their shared flags, checks
# and build. Call `shaped_link_setup NAME DEFAULT_ARGS... -- "$@"`; afterwards `$rate` is the link rate,
# `$SOFTRL_BIN` the binary, and the positional arguments to pass on are in the array `bench_args`.
shaped_link_setup() {
    local name="$1"; shift
    local defaults=()
    while [ "$1" != "--" ]; do defaults+=("$1"); shift; done
    shift
    rate=10gbit
    bench_args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --rate) rate="$2"; shift 2 ;;
            --) shift; bench_args=("$@"); break ;;
            *) echo "$name.sh: unknown argument '$1' (use --rate RATE [-- bench args])" >&2; exit 2 ;;
        esac
    done
    [ ${#bench_args[@]} -gt 0 ] || bench_args=("${defaults[@]}")
    if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
        echo "SKIP $name: needs root and iproute2 (ip, tc) for a shaped network namespace"; exit 77
    fi
    if [ -z "${SOFTRL_BIN:-}" ]; then
        swift build -c release --product softrl 2>&1 | tail -n 1
        SOFTRL_BIN="$(swift build -c release --show-bin-path)/softrl"
    fi
}

# Token bucket on DEV in namespace NS: RATE sustained, 1 MB burst (above lo's 64 KiB segments), packets queue at
# most 5 ms.
shape_device() { ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "$rate" burst 1mb latency 5ms; }
