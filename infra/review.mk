# The review page (make review) and the browser its tests drive (Debian's chromium, never a download).
CHROMIUM := /usr/bin/chromium
REVIEW_HOST ?= 127.0.0.1
REVIEW_PORT ?= 8080
# Beyond loopback the page needs the host names it is opened at: REVIEW_ALLOWED_HOSTS="review.example.internal"
REVIEW_ALLOWED_HOSTS ?=

.PHONY: review screenshots

## review: the review page on http://127.0.0.1:8080 with your AWS credentials (BUCKET=..., STACK_NAME=... for the queues, ENDPOINT_URL=... for the local stack)
review: $(STAMP)
	$(BIN)/python -m moderator review --host $(REVIEW_HOST) --port $(REVIEW_PORT) \
		$(foreach name,$(REVIEW_ALLOWED_HOSTS),--allowed-host $(name)) \
		$(if $(BUCKET),--bucket $(BUCKET)) $(if $(STACK_NAME),--stack-name $(STACK_NAME)) \
		$(if $(ENDPOINT_URL),--endpoint-url $(ENDPOINT_URL))

## screenshots: run the browser tests and keep their screenshots in docs/screenshots/
screenshots: $(STAMP) | $(CHROMIUM)
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -q

# `make test` needs the browser: a no-op when it is there, an apt-get install when it is not (CI runs
# as root). If it cannot be had, the browser tests skip and say why; nothing else fails here.
test: | $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/tmp/chromium-install.log 2>&1 \
			|| echo "warning: could not install chromium (see /tmp/chromium-install.log): browser tests will be skipped"; \
	else \
		echo "warning: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get): browser tests will be skipped"; \
	fi
