//! Throughput measurement of the benchmark workloads (used by `clr bench`).
