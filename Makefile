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

.PHONY: test test-short vet test-deps bench build run clean

## test: go vet, then every test with the race detector, the PostgreSQL store
## against a throw-away PostgreSQL 15 server started for the run.
test: vet test-deps
	scripts/pg-test-server.sh $(GO) test -race $(TESTFLAGS) $(PKGS)

## test-short: the tests without PostgreSQL and without -race (postgres/ skips).
test-short:
	$(GO) test $(TESTFLAGS) $(PKGS)

vet:
	$(GO) vet $(PKGS)

## test-deps: install what the tests need and the machine lacks: the
## PostgreSQL 15 server, and Chromium (with chromedriver) for browser tests.
test-deps:
	scripts/deps.sh postgres chromium

bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchtime=$(BENCHTIME) -count=$(COUNT) -benchmem $(PKGS)

## build: one static binary, bin/kvitt.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/kvitt ./cmd/kvitt

run:
	$(GO) run ./cmd/kvitt serve $(ARGS)

clean:
	rm -rf bin
