// Loaded first in every benchmark server process: SIGTERM ends it through process.exit, so Node
// writes what flags such as --cpu-prof (via BENCH_NODE_FLAGS) collect; a plain SIGTERM would not.
process.once("SIGTERM", () => process.exit(0));
