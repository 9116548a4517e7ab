#!/usr/bin/env bash
# Builds the Kafka Streams comparison application into bench/kstreams/target/sluice-kstreams-bench.jar.
# Idempotent: does nothing when the jar is newer than pom.xml and every file under src/.
# Needs a JDK 17 and Maven; dependencies come from Maven Central once and are cached in ~/.m2.
# Prints the jar path on stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
jar="$here/target/sluice-kstreams-bench.jar"

up_to_date() {
  [ -f "$jar" ] || return 1
  [ -z "$(find "$here/pom.xml" "$here/src" -newer "$jar" -print -quit)" ]
}

if up_to_date && [ "${1:-}" != "--force" ]; then
  echo "$jar"
  exit 0
fi

command -v java >/dev/null || { echo "build.sh: java is missing (JDK 17 needed)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "build.sh: mvn is missing (apt-get install maven)" >&2; exit 1; }
echo "build.sh: building $jar" >&2
# One Maven thread and a modest heap: the machine is shared.
MAVEN_OPTS="${MAVEN_OPTS:--Xmx512m -XX:TieredStopAtLevel=1}" \
  mvn -q -B -f "$here/pom.xml" package >&2
# Maven keeps the thin jar's mtime when nothing changed; make the jar newer than the sources either way.
touch "$jar"
echo "$jar"
