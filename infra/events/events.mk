# The sample events (infra/events/): regenerated from the SAM CLI and the published samples in sources/.
.PHONY: events

## events: rewrite infra/events/*.json from `sam local generate-event` and infra/events/sources/
events: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m infra.events.generate --sam $(SAM)
