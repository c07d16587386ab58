#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft, one combined broker+controller node) from Maven Central jars,
# for the test suite and local runs, without Docker.
#
#   bash scripts/kafka.sh fetch                 # download the jars once into .cache/kafka/libs
#   bash scripts/kafka.sh start DIR PORT CPORT  # start a broker in DIR, print 127.0.0.1:PORT
#                                               # (again on the same DIR: same data, restarted)
#   bash scripts/kafka.sh start DIR PORT CPORT SASL_PORT
#                       # also a SASL_PLAINTEXT listener (SCRAM-SHA-256/512, user below)
#   bash scripts/kafka.sh stop DIR              # SIGTERM, SIGKILL after 30 s
#
# Environment:
#   KAFKA_VERSION         default 4.1.1
#   KAFKA_LIBS            default <repo>/.cache/kafka/libs
#   KAFKA_START_TIMEOUT   seconds to wait for "Kafka Server started", default 90
#   KAFKA_HEAP_OPTS       default -Xms256m -Xmx512m
#   KAFKA_JVM_EXTRA_OPTS  e.g. -XX:TieredStopAtLevel=1 (C1 only: about half the start-up time on
#                         a busy 2-core box; the test fixture uses it, benchmarks keep full JIT)
#   KAFKA_SASL_USER, KAFKA_SASL_PASSWORD  the SCRAM user of the SASL listener (default
#                         driftline / driftline-secret; set when the storage is first formatted)
#   KAFKA_OWNER_PID       the broker is stopped when that process exits (a test session killed
#                         with SIGKILL never leaves a broker behind)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION="2.24.3"
SLF4J_VERSION="1.7.36"
LIBS="${KAFKA_LIBS:-$ROOT/.cache/kafka/libs}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
JAVA_OPTS=($HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  ${KAFKA_JVM_EXTRA_OPTS:-})

die() { echo "kafka.sh: $*" >&2; exit 1; }

# A process that exists and is not a zombie (a broker that died during startup stays a zombie
# child of this script until reaped, and `kill -0` would still succeed on it).
alive() {
  local state
  state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != "Z" ]
}

need_java() {
  command -v java >/dev/null 2>&1 || die "java not found (Kafka ${KAFKA_VERSION} needs Java 17+)"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/ *java.specification.version = //p')"
  [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "Java 17+ required, found ${major:-unknown}"
}

smoke() { java -cp "$LIBS/*" kafka.Kafka --version 2>/dev/null | grep -q "$KAFKA_VERSION"; }

cmd_fetch() {
  need_java
  if [ -f "$LIBS/.complete-$KAFKA_VERSION" ] && smoke; then
    echo "kafka ${KAFKA_VERSION} jars present in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>driftline.local</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId>
      <version>${LOG4J_VERSION}</version></dependency>
  </dependencies>
  <dependencyManagement>
    <dependencies>
      <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
        <version>${SLF4J_VERSION}</version></dependency>
    </dependencies>
  </dependencyManagement>
</project>
EOF
  rm -rf "$LIBS.tmp"
  mkdir -p "$(dirname "$LIBS")"
  echo "fetching kafka ${KAFKA_VERSION} jars from Maven Central..."
  mvn -B -q -Dstyle.color=never -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$LIBS.tmp" || die "maven could not fetch the Kafka jars"
  rm -rf "$LIBS"
  mv "$LIBS.tmp" "$LIBS"
  smoke || die "smoke check failed: java -cp '$LIBS/*' kafka.Kafka --version"
  touch "$LIBS/.complete-$KAFKA_VERSION"
  echo "kafka ${KAFKA_VERSION} jars ready in $LIBS ($(ls "$LIBS" | wc -l) files)"
}

cluster_id() {
  # 22-char base64url of 16 random bytes, not starting with '-'.
  local id
  while :; do
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | cut -c1-22)"
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

cmd_start() {
  [ $# -eq 3 ] || [ $# -eq 4 ] || die "usage: kafka.sh start DIR PORT CPORT [SASL_PORT]"
  local dir="$1" port="$2" cport="$3" sport="${4:-}"
  local listeners="PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}"
  local advertised="PLAINTEXT://127.0.0.1:${port}"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  local scram=()
  if [ -n "$sport" ]; then
    listeners="${listeners},SASL_PLAINTEXT://127.0.0.1:${sport}"
    advertised="${advertised},SASL_PLAINTEXT://127.0.0.1:${sport}"
    protocols="${protocols},SASL_PLAINTEXT:SASL_PLAINTEXT"
    local user="${KAFKA_SASL_USER:-driftline}" password="${KAFKA_SASL_PASSWORD:-driftline-secret}"
    scram=(--add-scram "SCRAM-SHA-256=[name=${user},password=${password}]"
           --add-scram "SCRAM-SHA-512=[name=${user},password=${password}]")
  fi
  need_java
  [ -f "$LIBS/.complete-$KAFKA_VERSION" ] || cmd_fetch >&2
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/kafka.pid" ] && alive "$(cat "$dir/kafka.pid")"; then
    die "a broker is already running from $dir (pid $(cat "$dir/kafka.pid"))"
  fi
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
controller.listener.names=CONTROLLER
listeners=${listeners}
advertised.listeners=${advertised}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=${protocols}
log.dirs=${dir}/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.backoff.ms=1000
EOF
  if [ -n "$sport" ]; then
    cat >>"$dir/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  fi
  cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.kafkaapache.name = org.apache.kafka
logger.kafkaapache.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
EOF
  local log4j="-Dlog4j2.configurationFile=$dir/log4j2.properties"
  # A folder that was formatted before keeps its cluster id and data: a restart, not a new broker.
  if [ ! -f "$dir/data/meta.properties" ]; then
    java "${JAVA_OPTS[@]}" "$log4j" -cp "$LIBS/*" kafka.tools.StorageTool format \
      -t "$(cluster_id)" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; die "storage format failed"; }
  fi
  : >"$dir/server.log"
  # setsid: the broker survives the caller's shell and gets its own process group.
  setsid java "${JAVA_OPTS[@]}" "$log4j" -Dkafka.logs.dir="$dir" -cp "$LIBS/*" \
    kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/kafka.pid"
  if [ -n "${KAFKA_OWNER_PID:-}" ]; then
    # Guard: blocks until the owner exits (no polling), then stops this broker.
    setsid bash -c 'tail --pid="$1" -f /dev/null; exec bash "$2" stop "$3"' _ \
      "$KAFKA_OWNER_PID" "$ROOT/scripts/kafka.sh" "$dir" >/dev/null 2>&1 </dev/null &
    echo "$!" >"$dir/guard.pid"
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; do
    if ! alive "$pid"; then
      tail -n 40 "$dir/stdout.log" "$dir/server.log" >&2 || true
      rm -f "$dir/kafka.pid"
      die "broker exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$dir/server.log" >&2 || true
      cmd_stop "$dir" >&2
      die "broker not started within ${START_TIMEOUT}s"
    fi
    sleep 0.2  # polling interval for the readiness line, bounded by the deadline above
  done
  echo "127.0.0.1:${port}"
}

cmd_stop() {
  [ $# -eq 1 ] || die "usage: kafka.sh stop DIR"
  local dir="$1" pid
  if [ -f "$dir/guard.pid" ]; then
    local guard
    guard="$(cat "$dir/guard.pid")"
    rm -f "$dir/guard.pid"
    # The guard itself ends up here (same pid after exec): never signal ourselves.
    [ "$guard" = "$$" ] || kill -TERM -- "-$guard" 2>/dev/null || true
  fi
  [ -f "$dir/kafka.pid" ] || { echo "no broker pid file in $dir"; return 0; }
  pid="$(cat "$dir/kafka.pid")"
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.2  # polling interval for process exit, bounded by the deadline above
    done
    if alive "$pid"; then
      echo "broker $pid did not stop in 30 s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/kafka.pid"
  echo "stopped broker $pid"
}

case "${1:-}" in
  fetch) shift; cmd_fetch "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) echo "usage: kafka.sh fetch | start DIR PORT CPORT | stop DIR" >&2; exit 2 ;;
esac
