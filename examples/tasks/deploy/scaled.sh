#!/usr/bin/env bash
# The Tasks demo scaled out on one machine: two "hosts" (a uvicorn with
# WEB_WORKERS workers each), one Celery worker and HAProxy in front
# (haproxy.cfg, next to this file). On real machines run `host` on each web
# machine, `worker` beside them and `balancer` on the load balancer, with
# the same environment everywhere (scaled.env, plus one OAKLING_SECRET_KEY).
#
#   examples/tasks/deploy/scaled.sh host PORT   one host: uvicorn, WEB_WORKERS workers
#   examples/tasks/deploy/scaled.sh worker ...  oakling worker (Celery; more arguments go to it)
#   examples/tasks/deploy/scaled.sh balancer    HAProxy, in the foreground
#   examples/tasks/deploy/scaled.sh all         all of them: hosts on HOST_A_PORT (8001)
#                                               and HOST_B_PORT (8002), HAProxy on
#                                               TASKS_LB_BIND (8000); Ctrl+C stops them
#
# Variables (beyond the app's OAKLING_* settings): PYTHON (python3),
# WEB_WORKERS (2), WORKER_CONCURRENCY (2), BIND_ADDRESS (127.0.0.1),
# FORWARDED_ALLOW_IPS (127.0.0.1: the balancer's address, whose
# X-Forwarded-For uvicorn trusts), HAPROXY (haproxy), and haproxy.cfg's
# TASKS_LB_BIND, TASKS_HOST_A, TASKS_HOST_B, TASKS_LB_STATS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
self="$here/$(basename "$0")"
cd "$here/../../.."  # the repository root: examples.tasks imports from here
PYTHON=${PYTHON:-python3}

need_key() {
    if [ -z "${OAKLING_SECRET_KEY:-}" ]; then
        echo "set OAKLING_SECRET_KEY, the same for every process:" >&2
        echo "  export OAKLING_SECRET_KEY=\$($PYTHON -c 'import secrets; print(secrets.token_urlsafe(50))')" >&2
        exit 2
    fi
}

case "${1:-}" in
host)
    need_key
    port=${2:?usage: scaled.sh host PORT}
    # NOTE: --proxy-headers with the balancer's address: the client address
    # (rate limits, login throttles) comes from HAProxy's X-Forwarded-For.
    exec "$PYTHON" -m uvicorn --factory examples.tasks.app:create_app \
        --host "${BIND_ADDRESS:-127.0.0.1}" --port "$port" --workers "${WEB_WORKERS:-2}" \
        --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
        --timeout-graceful-shutdown 10 --no-access-log
    ;;
worker)
    need_key
    exec "$PYTHON" -m oakling.cli worker --app 'examples.tasks.app:create_app()' \
        -c "${WORKER_CONCURRENCY:-2}" --without-gossip --without-mingle "${@:2}"
    ;;
balancer)
    exec "${HAPROXY:-haproxy}" -W -db -f "$here/haproxy.cfg"
    ;;
all)
    need_key
    port_a=${HOST_A_PORT:-8001} port_b=${HOST_B_PORT:-8002}
    export TASKS_HOST_A=${TASKS_HOST_A:-127.0.0.1:$port_a} TASKS_HOST_B=${TASKS_HOST_B:-127.0.0.1:$port_b}
    export TASKS_LB_BIND=${TASKS_LB_BIND:-127.0.0.1:8000} TASKS_LB_STATS=${TASKS_LB_STATS:-127.0.0.1:8404}
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
    "$self" host "$port_a" & pids+=($!)
    sleep 3  # NOTE: the first host migrates the database; the others wait on its lock anyway
    "$self" host "$port_b" & pids+=($!)
    "$self" worker & pids+=($!)
    "$self" balancer & pids+=($!)
    echo "the demo, scaled: http://$TASKS_LB_BIND/ (HAProxy stats: http://$TASKS_LB_STATS/)"
    wait -n
    ;;
*)
    sed -n '2,19p' "$self" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
