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
java -jar target/tabship-client.jar 2>&1 | head -n 1 >/dev/null   # the jar runs
echo "java_install.sh: clients/java built and tested (onnxruntime $(ls target/lib | sed -n 's/^onnxruntime-\(.*\)\.jar$/\1/p'))"
