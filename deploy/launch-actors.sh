#!/usr/bin/env bash
# Starts (or stops) SoftRL actors over ssh on the hosts listed in HOSTS_FILE, one host per line.
#   launch-actors.sh HOSTS_FILE tcp://learner-host:5555 [ACTORS_PER_HOST]
#   launch-actors.sh --stop HOSTS_FILE
# Needs passwordless ssh and `softrl` on each host's PATH (see deploy/README.md). Actor i serves Prometheus
# metrics on port 9401+i (the same flags as deploy/systemd, deploy/slurm and deploy/k8s).
set -euo pipefail
if [[ "${1:-}" == "--stop" ]]; then
    hosts="${2:?usage: launch-actors.sh --stop HOSTS_FILE}"
    while read -r host; do
        [[ -z "$host" || "$host" == \#* ]] && continue
        ssh -n "$host" 'pkill -TERM -f "softrl actor" || true' && echo "$host: stopped"
    done < "$hosts"
    exit 0
fi
hosts="${1:?usage: launch-actors.sh HOSTS_FILE ENDPOINT [ACTORS_PER_HOST]}"
endpoint="${2:?usage: launch-actors.sh HOSTS_FILE ENDPOINT [ACTORS_PER_HOST]}"
per_host="${3:-2}"
# SOFTRL_KEYS=DIR: a key directory on each host (learner.key + HOSTNAME-N.key_secret/.key), passed as --keys.
keys_arg=""
[[ -n "${SOFTRL_KEYS:-}" ]] && keys_arg="--keys '$SOFTRL_KEYS'"
[[ "$endpoint" == tcp://* ]] || { echo "endpoint must look like tcp://HOST:PORT" >&2; exit 2; }
while read -r host; do
    [[ -z "$host" || "$host" == \#* ]] && continue
    for ((i = 0; i < per_host; i++)); do
        ssh -n "$host" "nohup softrl actor --connect '$endpoint' --id \"\$(hostname)-$i\" $keys_arg --threads 1 --metrics-port $((9401 + i)) --metrics-host 0.0.0.0 > ~/softrl-actor-$i.log 2>&1 &"
    done
    echo "$host: started $per_host actor(s)"
done < "$hosts"
