#!/usr/bin/env bash
# A throwaway Apache Spark cluster on 127.0.0.1 for tests and local development, from the
# pinned pyspark wheel in the project's .venv (no download at run time).
#
#   scripts/spark_cluster.sh install     install Java (Debian's openjdk-17-jre-headless) if
#                                        missing (needs root) and check the pyspark wheel
#   scripts/spark_cluster.sh start DIR   start, on free ports, a standalone master, one
#                                        worker and the Thrift (HiveServer2) server that
#                                        submits to that master and owns the metastore;
#                                        metastore, warehouse, logs and pid files go under
#                                        DIR; writes DIR/env (CES_SPARK_* variables), prints it
#   scripts/spark_cluster.sh stop DIR    stop exactly the processes `start DIR` started
#
# Every client (dbt, Great Expectations, BI readers) goes through the Thrift server: the
# embedded Derby metastore admits one process only. Listens on 127.0.0.1, no
# authentication: for tests, never for data that matters.
set -euo pipefail

die() { echo "spark_cluster: $*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${CES_PYTHON:-$ROOT/.venv/bin/python}
DAEMONS=(
    "org.apache.spark.deploy.master.Master"
    "org.apache.spark.deploy.worker.Worker"
    "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
)
WORKER_CORES=${CES_SPARK_WORKER_CORES:-2}
WORKER_MEMORY=${CES_SPARK_WORKER_MEMORY:-2g}
START_TIMEOUT=${CES_SPARK_START_TIMEOUT:-180}

spark_home() {
    [[ -x "$PYTHON" ]] || die "no Python at $PYTHON (run make install first)"
    "$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null \
        || die "pyspark is not installed in $PYTHON (run make install)"
}

java_ok() { command -v java >/dev/null 2>&1 && java -version >/dev/null 2>&1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {  # port, seconds, log file, what
    local port=$1 seconds=$2 log=$3 what=$4 i
    for ((i = 0; i < seconds * 2; i++)); do
        if python3 -c "import socket, sys; s = socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
            return 0
        fi
        sleep 0.5
    done
    die "$what did not open port $port within ${seconds}s: $(tail -n 20 "$log" 2>/dev/null)"
}

install() {
    local home
    if ! java_ok; then
        [[ $(id -u) -eq 0 ]] || die "Java is not installed, and installing it needs root: sudo $0 install"
        command -v apt-get >/dev/null || die "Java is not installed and apt-get is missing"
        echo "Installing Java (openjdk-17-jre-headless) from Debian packages"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless >/dev/null; } \
            || die "apt-get install openjdk-17-jre-headless failed"
        java_ok || die "openjdk-17-jre-headless installed, but java does not run"
    fi
    home=$(spark_home)
    [[ -x "$home/sbin/spark-daemon.sh" ]] || die "$home has no sbin/spark-daemon.sh"
    echo "Spark $("$PYTHON" -c 'import pyspark; print(pyspark.__version__)') in $home; $(java -version 2>&1 | head -n 1)"
}

daemon() {  # dir, spark-daemon.sh arguments...
    local dir=$1 home
    shift
    home=$(spark_home)
    SPARK_HOME="$home" SPARK_PID_DIR="$dir/pids" SPARK_LOG_DIR="$dir/logs" \
        SPARK_IDENT_STRING=ces SPARK_CONF_DIR="$dir/conf" \
        "$home/sbin/spark-daemon.sh" "$@"
}

start() {
    local dir=$1 master_port master_ui worker_ui thrift_port
    java_ok || die "Java is not installed (run: $0 install)"
    spark_home >/dev/null
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local pid
    for pid in $(cat "$dir"/pids/*.pid 2>/dev/null); do
        kill -0 "$pid" 2>/dev/null && die "a cluster started in $dir is still running (run: $0 stop $dir)"
    done
    mkdir -p "$dir/pids" "$dir/logs" "$dir/conf" "$dir/warehouse" "$dir/metastore" "$dir/work" "$dir/tmp"
    master_port=$(free_port)
    master_ui=$(free_port)
    worker_ui=$(free_port)
    thrift_port=$(free_port)
    cat >"$dir/conf/spark-defaults.conf" <<EOF
spark.sql.warehouse.dir $dir/warehouse
spark.sql.session.timeZone UTC
spark.local.dir $dir/tmp
spark.driver.extraJavaOptions -Dderby.system.home=$dir/metastore -Djava.io.tmpdir=$dir/tmp
spark.executor.extraJavaOptions -Djava.io.tmpdir=$dir/tmp
spark.ui.enabled false
EOF
    export SPARK_MASTER_HOST=127.0.0.1 SPARK_LOCAL_IP=127.0.0.1 SPARK_WORKER_DIR="$dir/work"

    daemon "$dir" start "${DAEMONS[0]}" 1 --host 127.0.0.1 --port "$master_port" \
        --webui-port "$master_ui" >/dev/null
    wait_for_port "$master_port" 60 "$dir/logs/"*Master*.out "the master"
    daemon "$dir" start "${DAEMONS[1]}" 1 --host 127.0.0.1 --webui-port "$worker_ui" \
        --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" --work-dir "$dir/work" \
        "spark://127.0.0.1:$master_port" >/dev/null
    daemon "$dir" submit "${DAEMONS[2]}" 1 \
        --master "spark://127.0.0.1:$master_port" \
        --driver-memory 1g --executor-memory 1g --total-executor-cores "$WORKER_CORES" \
        --conf "spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName=$dir/metastore/metastore_db;create=true" \
        --hiveconf hive.server2.thrift.bind.host=127.0.0.1 \
        --hiveconf "hive.server2.thrift.port=$thrift_port" >/dev/null
    wait_for_port "$thrift_port" "$START_TIMEOUT" "$dir/logs/"*HiveThriftServer2*.out "the Thrift server"
    cat >"$dir/env" <<EOF
CES_SPARK_HOST=127.0.0.1
CES_SPARK_PORT=$thrift_port
CES_SPARK_MASTER=spark://127.0.0.1:$master_port
CES_SPARK_MASTER_UI=http://127.0.0.1:$master_ui
EOF
    cat "$dir/env"
}

stop() {
    local dir=$1 i pid class left=()
    [[ -d "$dir/pids" ]] || return 0
    dir=$(cd "$dir" && pwd)
    # the Thrift server first (it holds the executors), the master last
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        class=${DAEMONS[$i]}
        daemon "$dir" stop "$class" 1 >/dev/null 2>&1 || true
    done
    # spark-daemon.sh gives a process a few seconds; what is left is killed by its pid
    for pid in $(cat "$dir"/pids/*.pid 2>/dev/null); do
        for ((i = 0; i < 20; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
            left+=("$pid")
        fi
    done
    rm -f "$dir"/pids/*.pid
    [[ ${#left[@]} -eq 0 ]] || echo "spark_cluster: killed ${left[*]} after a clean stop timed out" >&2
}

case "${1:-}" in
    install) install ;;
    start) [[ -n "${2:-}" ]] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [[ -n "${2:-}" ]] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
