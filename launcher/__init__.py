"""The run-time glue of the run scripts: preflight checks, embedded models, the memory sampler, stage
chaining, the metrics log and the CPU step benchmark. Each module is ``python -m launcher.<name>``; see README.md."""
