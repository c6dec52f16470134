"""The benchmark's own stream processors, each run as a subprocess by bench.run."""
