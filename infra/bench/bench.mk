# Benchmarks: figures, never timed assertions. Results go to docs/benchmarks.md.
.PHONY: bench bench-cold-start bench-budget bench-memory bench-review
bench: $(STAMP) $(RUNTIME_STAMP)
	$(BIN)/python -m infra.bench.run

## bench-cold-start: only the cold-start table (the package under the runtime client, next to a floor); prints it
bench-cold-start: $(STAMP) $(RUNTIME_STAMP)
	$(BIN)/python -m infra.bench.cold_start

## bench-budget: the one Imagga budget on the local stack (its cost to live uploads, Batch Operations three ways, live uploads during a backfill); prints the tables
bench-budget: $(STAMP)
	$(BIN)/python -m infra.bench.budget

## bench-memory: only the content memory's figures (Imagga calls and throughput, memory off and on); prints them
bench-memory: $(STAMP)
	$(BIN)/python -m infra.bench.memory

## bench-review: the review page with 40 ms per AWS call (server time of 50-row pages, rounds of waits); prints them
bench-review: $(STAMP)
	$(BIN)/python -m pytest tests/browser/test_review_speed.py -k 40_ms -s -q -p no:cacheprovider
