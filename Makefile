# timewait_exporter — see README.md. `make run` builds and runs; `make test` runs every test.
GO        ?= go
BIN       := timewait_exporter
ARGS      ?=

.PHONY: all deps build run test unit e2e lint fmt clean bench bench-owners bench-netns fleet fuzz soak mutation release image mixin boot-rootfs

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

# The doctor with and without its owner lookup on N TIME_WAIT sockets and
# PROCS processes holding FDS descriptors each, first on a host of 100
# services (the realistic mode: the issue's 2x), then where every process
# holds the destination's sockets (the worst: reported, guarded at 6x)
# (root, about 2 min; the short runs are test/bench_owners.sh):
# make bench-owners N=250000 PROCS=2000 FDS=50
bench-owners: deps build
	MODE=realistic EXPORTER=$(CURDIR)/$(BIN) bench/owners.sh $(N) $(or $(PROCS),2000) $(or $(FDS),50) $(K)
	MODE=worst MAX_RATIO=6 EXPORTER=$(CURDIR)/$(BIN) bench/owners.sh $(N) $(or $(PROCS),2000) $(or $(FDS),50) $(K)

# --netns.discover at scale, larger than the runs in `test` (root, about two
# minutes): first the growth test, GROWTH_NS (250) idle namespaces: CPU per
# idle namespace per scrape, exposition bytes per scrape and peak RSS, with
# the default configuration and with dump: busy, against the targets
# (0.5 ms, 25 MB); then netns.dump: busy against dump: all on NS (100)
# namespaces, 5 of them with PER_BUSY TIME_WAIT sockets.
# make bench-netns GROWTH_NS=500 GROWTH_SCRAPES=30 NS=100 PER_BUSY=20000
bench-netns: deps build
	@rc=0; \
	NS_COUNT=$(or $(GROWTH_NS),250) SCRAPES=$(or $(GROWTH_SCRAPES),30) MAX_CPU_MS=0.5 MAX_RSS_MB=25 bash test/netns_growth.sh || rc=1; \
	NS_COUNT=$(or $(NS),100) PER_BUSY=$(or $(PER_BUSY),20000) SCRAPES=$(or $(SCRAPES),5) bash test/netns_busy.sh || rc=1; \
	exit $$rc

# The fleet test in its long form: the real exporter's scrape of a node of
# PODS pod namespaces served as NODES nodes to one Prometheus with the
# mixin's rules; reports head series and Prometheus' RSS (root; minutes and
# several GB: the test refuses a fleet above MAX_RSS_MB). `test` runs 30 x 110.
fleet: deps build
	NODES=$(or $(NODES),1000) PODS=$(or $(PODS),110) INTERVAL=$(or $(INTERVAL),30) \
		MAX_RSS_MB=$(or $(MAX_RSS_MB),12000) FLEET_TIMEOUT=$(or $(FLEET_TIMEOUT),3600) bash test/fleet_series.sh

# Longer fuzzing than the short run in `test`: FUZZSCALE times its
# executions per target (50: about 5 minutes each).
fuzz:
	FUZZSCALE=$(or $(FUZZSCALE),50) bash test/harden_fuzz.sh

# The mutation test of the alert rules on Debian's Prometheus 2 and on
# Prometheus 3 (`test` runs the mutants on 3 only): about 760 s of CPU.
mutation: deps
	PROMTOOLS=promtool,../.tools/promtool3 MUTATION_SECONDS=1800 bash test/rules_mutation.sh

# The churn soak in its long form (SOAK_SECONDS), at full churn (`test` runs
# 90 s at 10,000 connections/s).
soak: deps build
	SOAK_SECONDS=$(or $(SOAK_SECONDS),1800) CHURN_RATE=$(or $(CHURN_RATE),0) bash test/soak_churn.sh

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
