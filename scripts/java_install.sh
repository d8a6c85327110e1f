#!/usr/bin/env bash
# Builds and tests the Java consumer (clients/java) on a fresh machine: `mvn -q verify` fetches
# onnxruntime's Java package (its Linux CPU library is inside the jar) and Jackson from Maven
# Central, runs the JUnit tests and writes target/tabship-client.jar (dependencies in
# target/lib). Needs Java 17+ and Maven.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../clients/java"
for tool in java mvn; do
    command -v "$tool" >/dev/null 2>&1 || { echo "java_install.sh: $tool is required (Java 17+ and Maven)" >&2; exit 1; }
done
mvn -q -B verify
# the jar runs: with no arguments it prints its usage (and exits 2, as a CLI should)
usage="$(java -jar target/tabship-client.jar 2>&1 || true)"
case "$usage" in
    usage:*) ;;
    *) echo "java_install.sh: target/tabship-client.jar does not run: $usage" >&2; exit 1 ;;
esac
echo "java_install.sh: clients/java built and tested (onnxruntime $(ls target/lib | sed -n 's/^onnxruntime-\(.*\)\.jar$/\1/p'))"
