# Benchmarks: figures, never timed assertions. Results go to docs/benchmarks.md.
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m infra.bench.run
