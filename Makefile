# Two commands do all set-up on a fresh Debian machine:
#   make demo   a real two-node failover and rejoin in a temporary sandbox
#   make test   unit tests and integration tests against real PostgreSQL 15 servers
PREFIX ?= /usr/local
APT_PACKAGES := postgresql-15 libpq-dev libarchive-dev libssl-dev util-linux python3 pkg-config
SWIFT ?= swift

.PHONY: deps build demo test install clean-sandboxes

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
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

install: deps
	$(SWIFT) build -c release
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 .build/release/pg-rejoin $(DESTDIR)$(PREFIX)/bin/pg-rejoin
