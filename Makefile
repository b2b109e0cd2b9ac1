# timewait_exporter — see README.md. `make run` builds and runs; `make test` runs every test.
GO        ?= go
BIN       := timewait_exporter
ARGS      ?=

.PHONY: all deps build run test unit e2e lint fmt clean bench bench-netns fuzz soak release image mixin boot-rootfs

all: lint build

# The test toolchain (Debian packages, staticcheck): only the targets that
# test, lint or benchmark need it. build and run need Go alone.
deps:
	./scripts/install-deps.sh

# The same static build, with the version stamped in, as releases and the
# container image.
build:
	./scripts/release.sh binary $(BIN)

run: build
	./$(BIN) $(ARGS)

# Go modules of their own (dependencies the exporter's go.mod should not
# carry): linted like the main one.
NESTED := deploy/validate mixin

# The mixin's jsonnet in the monitoring-mixins' style (jsonnetfmt's defaults,
# spelled out): fix with ./.tools/jsonnetfmt -i $(JSONNETFMT) FILE.
JSONNETFMT := -n 2 --max-blank-lines 2 --string-style s --comment-style s

lint: deps
	@test -z "$$(gofmt -l . | grep -v '^.tools/')" || { gofmt -l .; echo 'gofmt: files above need formatting'; exit 1; }
	@./.tools/jsonnetfmt --test $(JSONNETFMT) $$(find mixin \( -name '*.libsonnet' -o -name '*.jsonnet' \) -not -path '*/vendor/*') || { echo 'jsonnetfmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	./.tools/staticcheck ./...
	@for m in $(NESTED); do echo "lint $$m"; (cd $$m && $(GO) vet ./... && $(CURDIR)/.tools/staticcheck ./...) || exit 1; done

unit: deps
	$(GO) test -race -count=1 ./...

# Each test/*.sh is an end-to-end test against the built binary and real
# Debian tools; each cleans up after itself and exits non-zero on failure.
e2e: deps build
	@pass=0; failed=""; \
	for t in test/*.sh; do \
		echo "=== $$t"; start=$$(date +%s); \
		if bash "$$t"; then pass=$$((pass + 1)); else failed="$$failed $$t"; fi; \
		echo "--- $$t: $$(( $$(date +%s) - start )) s"; \
	done; \
	n=$$(echo $$failed | wc -w); \
	echo "e2e: $$pass passed, $$n failed$${failed:+ (}$${failed# }$${failed:+)}"; \
	test $$n -eq 0

test: lint unit e2e

# Scrape cost against node_exporter tcpstat, ss and a bare sock_diag dump on
# N real TIME_WAIT sockets in a throwaway netns (root, ~2 min; not part of
# `test`). make bench N=50000 K=10   or   make bench CURVE=10000,50000,100000,250000
N ?= 250000
K ?= 5
bench: deps build
	EXPORTER=$(CURDIR)/$(BIN) bench/timewait-bench.sh $(if $(CURVE),--curve $(CURVE) $(K),$(N) $(K))

# netns.dump: busy against dump: all on many namespaces, larger than the
# run in `test` (root, about a minute): make bench-netns NS=100 PER_BUSY=20000
bench-netns: deps build
	NS_COUNT=$(or $(NS),100) PER_BUSY=$(or $(PER_BUSY),20000) SCRAPES=$(or $(SCRAPES),5) bash test/netns_busy.sh

# Longer fuzzing than the short run in `test`: FUZZSCALE times its
# executions per target (50: about 5 minutes each).
fuzz:
	FUZZSCALE=$(or $(FUZZSCALE),50) bash test/harden_fuzz.sh

# The churn soak in its long form (SOAK_SECONDS; `test` runs 90 s).
soak: deps build
	SOAK_SECONDS=$(or $(SOAK_SECONDS),1800) bash test/soak_churn.sh

# Static linux/amd64 and linux/arm64 binaries with checksums in dist/.
release:
	./scripts/release.sh

# The container image with docker, podman or buildah, tagged as the
# Kubernetes manifests and the Helm chart name it (scripts/image-build.sh tag).
image:
	./scripts/image-build.sh image

# Render the rules, the PrometheusRule, the dashboards and the doctor's
# defaults from the monitoring mixin (mixin/) after changing it.
mixin:
	cd mixin && $(GO) run ./render

# Debootstrap (once, ~8 min) the Debian rootfs test/deploy_systemd_boot.sh boots
# the systemd units in; without it that test skips.
boot-rootfs: build
	DEPLOY_BOOT_BUILD=1 DEPLOY_BOOT_REQUIRE=1 bash test/deploy_systemd_boot.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -f $(BIN)
	rm -rf dist test/artifacts
