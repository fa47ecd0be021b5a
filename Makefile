# taskhost: build, try the demo, test.
#   make demo   build taskhost and the example packs (Go, and pynet in Python), then run jobs/demo.hcl
#   make install  put taskhost on the PATH (go install ./cmd/taskhost)
#   make test   everything CI checks: installs what the tests need if missing
#               (scripts/test-deps), then no built file tracked
#               (scripts/check-tree), format, vet, the whole test suite
#               with -race, and 15 s of fuzzing the jobfile loader
#   make bench  the benchmarks of bench/, each against its floor or peer (docs/performance.md);
#               installs their peers if missing (scripts/test-deps --bench)

GO      ?= go
BIN     := bin
PACKS   := ./plugins/demo ./plugins/exec ./plugins/notify
# The interpreter that builds the Python example pack and that its #! line
# names: Debian's, not the first python3 on PATH, which may be a pyenv
# shim (some 0.5 s of CPU per start where measured; docs/python.md).
PYTHON  ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)

.PHONY: build install demo test test-deps lint bench generate clean

build:
	$(GO) build -o $(BIN)/ ./cmd/taskhost $(PACKS)
	PYTHONPATH=sdk/python $(PYTHON) -m taskhost build plugins/pynet -o $(BIN)/pynet --python $(PYTHON)

# taskhost on the PATH: go install puts it in $(go env GOBIN), or
# $(go env GOPATH)/bin when GOBIN is unset.
install:
	$(GO) install ./cmd/taskhost
	@echo "installed $$( [ -n "$$($(GO) env GOBIN)" ] && $(GO) env GOBIN || echo $$($(GO) env GOPATH)/bin )/taskhost"

# The demo job fails on purpose (it shows every result), so exit code 1 is
# what it should give; anything else is an error.
demo: build
	@$(BIN)/taskhost run jobs/demo.hcl; code=$$?; \
	if [ $$code -le 1 ]; then echo "(exit code $$code: the demo shows failures on purpose)"; else exit $$code; fi

# Packs build for Linux, macOS and Windows: the SDK and the packs are vetted
# for all three (not sdk/python: Go tests of the Python SDK, run on Linux).
lint:
	@scripts/check-tree
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet $$($(GO) list ./sdk/... | grep -v /sdk/python) ./plugins/...
	GOOS=windows $(GO) vet $$($(GO) list ./sdk/... | grep -v /sdk/python) ./plugins/...

test-deps:
	@scripts/test-deps

# The fuzzer minimizes each new interesting input before it goes on, for up
# to 60 s by default, and counts none of that as fuzzing: with a fresh
# cache it found so many that both workers spent most of the 15 s
# minimizing (the count of execs stood still for seconds). Minimizing is
# for a crasher being debugged; here the 15 s are all fuzzing.
test: test-deps lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -run '^$$' -fuzz FuzzLoadSource -fuzztime 15s -fuzzminimizetime 0 ./host/jobfile

bench:
	@scripts/test-deps --bench
	$(GO) test ./bench -run '^$$' -bench . -benchtime 3x -timeout 60m

# Regenerate the wire protocol's Go code (needs protoc, protoc-gen-go,
# protoc-gen-go-grpc and protoc-gen-go-vtproto on PATH; see docs/protocol.md),
# and the Python SDK's HPACK Huffman table (from golang.org/x/net's).
generate:
	$(GO) generate ./internal/proto ./sdk/python/internal/huffgen

clean:
	rm -rf $(BIN) runs
