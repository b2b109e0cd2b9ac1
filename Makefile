# timewait_exporter — see README.md. `make run` builds and runs; `make test` runs every test.
GO        ?= go
BIN       := timewait_exporter
PKG       := github.com/prometheus/common/version
VERSION   ?= $(shell cat VERSION)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) \
             -X $(PKG).Branch=$(BRANCH) -X $(PKG).BuildUser=$(shell id -un)@$(shell hostname) \
             -X $(PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
ARGS      ?=

.PHONY: all deps build run test unit e2e lint fmt clean

all: lint build

deps:
	./scripts/install-deps.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

run: deps build
	./$(BIN) $(ARGS)

lint: deps
	@test -z "$$(gofmt -l . | grep -v '^.tools/')" || { gofmt -l .; echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	./.tools/staticcheck ./...

unit: deps
	$(GO) test -race -count=1 ./...

# Each test/*.sh is an end-to-end test against the built binary and real
# Debian tools; each cleans up after itself and exits non-zero on failure.
e2e: deps build
	@set -e; for t in test/*.sh; do echo "=== $$t"; bash "$$t"; done

test: lint unit e2e

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -f $(BIN)
	rm -rf dist test/artifacts
