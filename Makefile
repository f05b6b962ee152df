# Midge build and test targets. `make test` is what CI runs.
GO        ?= go
FUZZTIME  ?= 20s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -s -w -X main.version=$(VERSION)
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all test deps build fuzz bench lint

all: build

## test: install what the tests need, then run every test with the race detector.
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

## deps: install Debian's mosquitto and its clients, the reference peer of the interop tests.
deps:
	@if ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v mosquitto_sub >/dev/null 2>&1 || \
		! command -v mosquitto_passwd >/dev/null 2>&1; then \
		echo "installing mosquitto and mosquitto-clients"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto mosquitto-clients >/dev/null; \
	fi

## build: a static midge binary in bin/.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/midge ./cmd/midge

## fuzz: run every fuzz target for FUZZTIME each, one target per go test call.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## bench: the hot-path benchmarks, with allocations.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./packet ./topic ./broker

## lint: gofmt and go vet (the house rules run as a test in internal/lint).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
