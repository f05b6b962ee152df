# Midge build and test targets. `make test` is what CI runs.
GO        ?= go
FUZZTIME  ?= 20s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -s -w -X main.version=$(VERSION)
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all test deps build dist fuzz bench bench-compare lint

all: build

## test: install what the tests need, run every test with the race detector, cross-compile the releases.
test: deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	@# Every release platform must build (cross-compilation only; nothing foreign runs).
	d=$$(mktemp -d) && $(MAKE) dist DISTDIR=$$d VERSION=test && rm -rf $$d

## deps: install Debian's mosquitto and its clients, the reference peer of the interop tests, and
## Debian's chromium, the headless browser that runs MQTT.js against the WebSocket listener.
deps:
	@if ! command -v mosquitto_pub >/dev/null 2>&1 || ! command -v mosquitto_sub >/dev/null 2>&1 || \
		! command -v mosquitto_passwd >/dev/null 2>&1; then \
		echo "installing mosquitto and mosquitto-clients"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto mosquitto-clients >/dev/null; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

## build: a static midge binary in bin/.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/midge ./cmd/midge

## dist: static release binaries for every supported platform, in DISTDIR.
DISTDIR   ?= bin/dist
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
dist:
	@mkdir -p $(DISTDIR)
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "building $(DISTDIR)/midge-$$os-$$arch$$ext"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o $(DISTDIR)/midge-$$os-$$arch$$ext ./cmd/midge || exit 1; \
	done

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

## bench-compare: Midge side by side with Debian's Mosquitto (installed if missing): three rounds of every
## scenario, then the large-state one (about ten minutes). The markdown report goes to stdout and to
## bin/bench-compare.md; docs/benchmarks.md describes the method.
BENCHFLAGS ?= -large
bench-compare: build
	@if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then \
		echo "installing mosquitto"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto >/dev/null; \
	fi
	$(GO) run ./internal/benchcompare -midge bin/midge -out bin/bench-compare.md $(BENCHFLAGS)

## lint: gofmt and go vet (the house rules run as a test in internal/lint).
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
