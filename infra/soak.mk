# The fault-injection soak: reliability figures through the whole local stack. Exit 1 on a lost,
# unlabelled or misplaced object. Options: make soak SOAK_ARGS="--objects 200 --seed 3"
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python -m infra.soak.run $(SOAK_ARGS)
