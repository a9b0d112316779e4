# Flock build, test and simulation targets. `make test` is what CI runs (.ci/run).
GO           ?= go
GOBIN        := $(shell $(GO) env GOPATH)/bin
STATICCHECK  := $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
RAPID_CHECKS ?= 1000
SEEDS        ?= 0:200
FUZZTIME     ?= 10s
export RAPID_CHECKS

.PHONY: all build test test-go test-race sim bench bench-compare bench-etcd cluster-test fuzz lint vet fmt-check staticcheck tidy-check clean mutate

all: build

build:
	$(GO) build ./...
	$(GO) build -o bin/ ./cmd/...

# test: lint, then every package's tests (unit, golden, property, fuzz seed corpora,
# determinism, the seed sweep and the planted bugs live in scenarios/ and cmd/flock-sim/).
test: lint test-go test-race

test-go:
	$(GO) test -count=1 -timeout 12m ./...

# test-race: the parallel cores' paths (cores on OS threads sharing a process's global memory
# through atomic words, the transport's fast path written from the callers' goroutines, and
# osdisk's shared directory handles) under
# the race detector; focused on the packages involved, so CI stays
# within its time (about 30 s on 2 cores).
test-race:
	$(GO) test -count=1 -race -timeout 5m -run Parallel ./vm/mem/ ./vm/cores/ ./vm/proc/
	$(GO) test -count=1 -race -timeout 5m -run 'Parallel|TestCoresRunThroughSyncs|TestChunkSyncLeavesLockFree|TestFileWrittenHereReadThere/parallel=true' ./vm/node/
	$(GO) test -count=1 -race -timeout 5m -run 'TestVMParallelCores|TestIssuer|TestVMRemoteLoadBorrowsTheCore' ./host/
	$(GO) test -count=1 -race -timeout 5m -run 'Urgent|Express|Spill' ./netmodel/tcpnet/
	$(GO) test -count=1 -race -timeout 5m -run 'DirHandles' ./diskmodel/osdisk/

# sim: a short flock-sim sweep with a visible result.
sim: build
	./bin/flock-sim -seeds $(SEEDS)

# bench: every benchmark, then the kv scenario's time compression and a sweep's seeds/min.
bench: build
	@echo "== the VM: sum loop (ns/iter at N=1e8), recursive fib(30), spawn+join, idle thread bytes, global load"
	$(GO) test -run '^$$' -bench 'Loop|Fib30|SpawnJoin|IdleThreads|GlobalLoad' -benchmem ./vm/proc/
	@echo "== everything else"
	$(GO) test -run '^$$' -bench . -benchmem ./vm/raftkv/ ./vm/wal/ ./sim/... ./checker/... ./diskmodel/... ./netmodel/...
	$(GO) test -run '^$$' -bench KVScenario -benchtime 60x ./scenarios/
	@echo "== the mem and fs scenarios' time compression (x-compression-cpu; docs/memory.md, docs/storage.md)"
	GOGC=800 GOMAXPROCS=1 $(GO) test -run '^$$' -bench 'MemScenario$$|FSScenario$$' -benchtime 150x ./scenarios/
	@echo "== the real transport: remote loads, ping-pongs, durable file writes, fsyncs (docs/operating.md)"
	$(GO) test -run '^$$' -bench 'RemoteLoad|VMFileWrite' -benchtime 5x ./host/
	$(GO) test -run '^$$' -bench 'PingPong|Fsync' ./host/
	./bin/flock-sim -seeds 0:200 -j 2 2>&1 | tail -n 1

# bench-compare: the same loop and fib programs in Flock, gopher-lua and goja, with ratios
# (bench/compare is its own module, so the main module does not depend on the peers).
bench-compare:
	cd bench/compare && $(GO) run . -n 100000000 -reps 3

# bench-etcd: metadata puts of raftkv over TCP+TLS beside etcd 3.x, 3 machines on loopback
# (bench/etcd is its own module, so the main module does not depend on etcd).
bench-etcd:
	cd bench/etcd && $(GO) run . -clients 1,64 -duration 5s

# cluster-test: longer randomized rounds with real flock processes on loopback (SIGKILL,
# restarts, cut links through in-test proxies, porcupine-checked histories).
cluster-test:
	FLOCK_CLUSTER_TEST=1 $(GO) test -count=1 -timeout 20m -run TestClusterChaos -v ./cmd/flock/

# fuzz: every fuzz target for FUZZTIME each (seed corpora also run in `make test`).
fuzz:
	@grep -rH --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '^./bench/' | \
	  sed -E 's#^\./(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*).*#\1 \2#' | sort -u | \
	  while read -r dir fn; do \
	    echo "fuzz ./$$dir $$fn ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "./$$dir" || exit 1; \
	  done

# mutate: small mutants of the protocol packages (a boundary moved, a condition negated, a sync
# skipped, ...), each built into flock-sim and judged by a sweep of every scenario; prints the share
# killed and every survivor. Not in CI: one build and one sweep per mutant, hours in all.
MUTATE_PKGS  ?= ./vm/wal ./vm/raftkv ./vm/coherence ./vm/dfs ./vm/node
MUTATE_SEEDS ?= 0:200
mutate:
	$(GO) run ./cmd/flock-sim/mutate -seeds $(MUTATE_SEEDS) $(MUTATE_PKGS)

lint: vet fmt-check staticcheck tidy-check

vet:
	$(GO) vet ./...

# tidy-check: go.mod and go.sum are what go mod tidy makes.
tidy-check:
	$(GO) mod tidy -diff

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

$(STATICCHECK):
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

clean:
	rm -rf bin
