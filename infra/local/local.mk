# The local stack (infra/local/): `make demo` runs the scenario and exits, `make local` keeps it up.
# BACKEND=localstack runs them on LocalStack (installed on first use) instead of moto.
LOCAL_PY := PYTHONPATH=functions:. $(BIN)/python
BACKEND ?= moto
LOCAL_BACKEND_DEPS := $(if $(filter localstack,$(BACKEND)),$(LOCALSTACK_STAMP))

## demo: start the local stack, upload sample images, print every verdict (exit 1 if one is wrong); BACKEND=localstack
demo: $(STAMP) $(LOCAL_BACKEND_DEPS)
	$(LOCAL_PY) -m infra.local.demo --backend $(BACKEND)

## local: run the local stack in the foreground for your own uploads (Ctrl-C stops it); BACKEND=localstack
local: $(STAMP) $(LOCAL_BACKEND_DEPS)
	$(LOCAL_PY) -m infra.local.run --backend $(BACKEND)

## imagga-emulator: only the Imagga API emulator, on 127.0.0.1 (Ctrl-C stops it)
imagga-emulator: $(STAMP)
	$(LOCAL_PY) -m infra.local.imagga_emulator
