# The local stack (infra/local/): `make demo` runs the scenario and exits, `make local` keeps it up.
LOCAL_PY := PYTHONPATH=functions:. $(BIN)/python

## demo: start the local stack, upload sample images, print every verdict (exit 1 if one is wrong)
demo: $(STAMP)
	$(LOCAL_PY) -m infra.local.demo

## local: run the local stack in the foreground for your own uploads (Ctrl-C stops it)
local: $(STAMP)
	$(LOCAL_PY) -m infra.local.run

## imagga-emulator: only the Imagga API emulator, on 127.0.0.1 (Ctrl-C stops it)
imagga-emulator: $(STAMP)
	$(LOCAL_PY) -m infra.local.imagga_emulator
