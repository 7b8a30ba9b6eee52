# wad: run `make help` for the targets.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin
# Fuzz budgets are execution counts, not durations: Go 1.26's fuzz
# coordinator can fail a run whose -fuzztime duration expires while a worker
# is mid-call (go.dev/issue/75804, fixed in Go 1.27).
FUZZN     ?= 100000x
FUZZN_RPC ?= 10000x
PKGS     := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/wad and bin/wactl (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/wad ./cmd/wad
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/wactl ./cmd/wactl

.PHONY: run
run: build ## run the daemon in the foreground on its embedded defaults
	$(BIN)/wad

.PHONY: deps
deps: ## fetch the Go modules; install what the tests need from Debian's packages, when missing
	GO=$(GO) scripts/ensure-deps.sh

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l . 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

.PHONY: unit
unit: ## go test -race on every package
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

.PHONY: fuzz
fuzz: ## run every fuzz target briefly (FUZZN executions each; FUZZN_RPC for the socket target)
	$(GO) test -run '^$$' -fuzz '^FuzzClientID$$' -fuzztime $(FUZZN) ./ctl
	$(GO) test -run '^$$' -fuzz '^FuzzRecipient$$' -fuzztime $(FUZZN) ./ctl
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZN_RPC) ./daemon

.PHONY: packages
packages: build ## dist/wad_<ver>_<arch>.deb and dist/wad-<ver>-1.<arch>.rpm (version from git describe)
	$(GO) run ./packaging/mkpkg -bin $(BIN) -out dist

.PHONY: e2e
e2e: ## install the .deb into a booted systemd container and drive it (root)
	$(GO) vet -tags e2e ./packaging/
	$(GO) test -tags e2e -count=1 -timeout 10m -run '^TestE2E$$' -v ./packaging/

.PHONY: test
test: deps lint unit fuzz e2e ## everything: deps, gofmt, vet, race tests, fuzzing, e2e

.PHONY: bench
bench: ## benchmarks (performance targets live here, not in tests)
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)

.PHONY: clean
clean: ## remove build output
	rm -rf $(BIN) dist
