# kvitt's build and test entry points. `make test` works on a fresh Debian
# machine (it installs PostgreSQL 15 and Chromium with apt-get when they are
# missing, as root) and is what CI runs (.ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO        ?= go
PKGS      ?= ./...
# Extra flags for go test, e.g. make test TESTFLAGS='-run Conformance -v'.
TESTFLAGS ?=
# make bench BENCH=Payment BENCHTIME=2s COUNT=6
BENCH     ?= .
BENCHTIME ?= 1s
COUNT     ?= 1
# make run ARGS='--addr 127.0.0.1:9090'
ARGS      ?=
# make fuzz FUZZTIME=30s: how long each fuzz target runs.
FUZZTIME  ?= 3s

.PHONY: test test-short vet test-deps bench bench-growth bench-soak build run clean fuzz

## test: go vet, then every test with the race detector, the PostgreSQL store
## against a throw-away PostgreSQL 15 server started for the run.
test: vet test-deps
	scripts/pg-test-server.sh $(GO) test -race -timeout 45m $(TESTFLAGS) $(PKGS)

## test-short: the tests without PostgreSQL and without -race (postgres/ skips).
test-short:
	$(GO) test $(TESTFLAGS) $(PKGS)

vet:
	$(GO) vet $(PKGS)

## fuzz: every FuzzXxx in $(PKGS) in turn, FUZZTIME each, from its seed
## corpus (testdata/fuzz/FuzzXxx, also run as plain tests by make test). A
## failing input is written to that directory: commit it with the fix.
## Not part of make test: the whole run takes longer than CI gives it.
fuzz:
	start=$$SECONDS; \
	targets=$$($(GO) test -list '^Fuzz' $(PKGS) | awk '/^Fuzz/ { t[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2 "=" t[i]; n = 0 }'); \
	for pt in $$targets; do \
		echo "fuzz $${pt%%=*} $${pt#*=}"; \
		$(GO) test -run '^$$' -fuzz "^$${pt#*=}\$$" -fuzztime $(FUZZTIME) "$${pt%%=*}" | sed '/^fuzz: elapsed/d'; \
	done; \
	echo "fuzz: $$(wc -w <<< "$$targets") targets, $(FUZZTIME) each, in $$((SECONDS - start)) s"

## test-deps: install what the tests need and the machine lacks: the
## PostgreSQL 15 server, and Chromium (with chromedriver) for browser tests.
test-deps:
	scripts/deps.sh postgres chromium

bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchtime=$(BENCHTIME) -count=$(COUNT) -benchmem $(PKGS)

## bench-growth: the growth figures (docs/benchmarks.md "Growth"): ledgers of
## 10 000 and 1 000 000 payments (or KVITT_BENCH_GROWTH_SIZES), seeded once
## into $$TMPDIR/kvitt-growth. Not part of make test: it takes many minutes.
bench-growth:
	KVITT_BENCH_GROWTH=1 KVITT_BENCH_GROWTH_SIZES=$${KVITT_BENCH_GROWTH_SIZES:-10000,1000000} \
		$(GO) test ./bench -run '^$$' -bench Growth -benchtime 1x -timeout 3h -v

## bench-soak: the soak (docs/benchmarks.md "Soak"): kvitt serve (sandbox)
## under the open model, RATE=20 sales/s of METHOD=mix for D=60m, its memory
## sampled every SAMPLE=60 s into a CSV, and the verdict "memory flat" or not
## (bench/soak.sh says the rule). Not part of make test or CI: it takes an hour.
bench-soak:
	bench/soak.sh

## build: one static binary, bin/kvitt.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/kvitt ./cmd/kvitt

run:
	$(GO) run ./cmd/kvitt serve $(ARGS)

clean:
	rm -rf bin
