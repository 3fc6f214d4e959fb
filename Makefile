# runbook — two commands do everything on a fresh machine:
#   make demo   a complete release of the example runbook on local hosts
#   make test   every test (unit, in-process SSH, real sshd, tmux, kill -9)

GO       ?= go
BIN      := bin/runbook
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X github.com/runbook-dev/runbook/runbook/cli.Version=$(VERSION) \
            -X github.com/runbook-dev/runbook/runbook/cli.Commit=$(COMMIT) \
            -X github.com/runbook-dev/runbook/runbook/cli.Date=$(DATE)
DEMO     ?= /tmp/runbook-demo
SIGNOFF  := --signoff QA="Li Na" --signoff DBA="Wang Li"
STATICCHECK ?= $(shell command -v staticcheck || echo $(HOME)/go/bin/staticcheck)

.PHONY: all build demo test test-short lint bench clean report-screenshot faults faults-crash faults-net

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

# The example night, twice (1.0.0 then 1.1.0), non-interactively, on
# directories of this machine; then where it stands, the history and the
# morning-after report.
demo: build
	rm -rf $(DEMO)
	$(BIN) init $(DEMO)
	cd $(DEMO) && $(CURDIR)/$(BIN) validate
	cd $(DEMO) && $(CURDIR)/$(BIN) start --version 1.0.0 --yes $(SIGNOFF)
	cd $(DEMO) && $(CURDIR)/$(BIN) start --version 1.1.0 --yes $(SIGNOFF)
	cd $(DEMO) && $(CURDIR)/$(BIN) status
	cd $(DEMO) && $(CURDIR)/$(BIN) history
	cd $(DEMO) && $(CURDIR)/$(BIN) report

# The HTML report of an example night as headless Chromium renders it:
# bin/report-screenshot/report.{html,png}. CI runs the same script through
# the e2e test TestReportHTMLInChromium, which also checks the pixels.
report-screenshot: build
	scripts/report-screenshot.sh $(BIN) bin/report-screenshot

# Every package under the race detector (the engine's host runs are
# goroutines; the e2e binary is built without it, its harness with it).
test: build
	$(GO) test -race -count=1 -timeout 30m ./...

# Proof under faults (RELIABILITY.md): `make test` runs a representative
# subset of each fault test; these run all of it.
faults: faults-crash faults-net

# kill -9 at every hit of every crash point of a release and of a
# rollback on real sshd hosts (a test build: -tags faults), random kills,
# 1,000 two-process lock races, kills during vault rewrites, a rolling
# release on 100 sshd killed in the middle of batch 3 (24 in `make test`). The full log
# is bin/faults-crash.log; the figures are its lines "figure: ...".
faults-crash:
	@mkdir -p bin
	RUNBOOK_FAULTS=full $(GO) test -count=1 -timeout 120m -v -run '^TestKill' ./runbook/e2e/ > bin/faults-crash.log 2>&1; \
	rc=$$?; grep -hE 'figure:|seed|^(--- FAIL|FAIL|ok )' bin/faults-crash.log; exit $$rc

# Network, disk, bad input and secrets (reliability-net-disk.md):
# connections cut and black-holed at random bytes by a proxy on 127.0.0.1
# (commands, uploads, the real binary against real sshd, the default
# keepalive's detection time), the state directory and deploy directories
# filling up on a tmpfs, every fuzz target for FUZZTIME from its checked-in
# seed corpus, the masker property test and a process-list watcher during
# a release. The full log is bin/faults-net.log; the figures are its lines
# "figure: ...".
FUZZTIME ?= 30s
faults-net:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/faults-net.sh bin/faults-net.log

test-short:
	$(GO) test -short -count=1 ./...

# go mod tidy -diff fails when go.mod or go.sum says other than the
# imports do (a direct dependency marked indirect, a stale checksum).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(STATICCHECK) ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x ./runbook/e2e/ ./state/ ./steps/remote/

clean:
	rm -rf bin $(DEMO)
