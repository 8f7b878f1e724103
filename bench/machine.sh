# Sourced by the benchmark scripts: the lines a result file needs about where it was
# measured (cores, CPU, memory, kernel) and on what (the commit, marked when crates/,
# bench/ or Cargo.lock have uncommitted changes).
bench_machine() {
  echo "cores: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo
  grep MemTotal /proc/meminfo
  echo "kernel: $(uname -r)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates bench Cargo.lock || echo ' (with uncommitted changes)')"
}
