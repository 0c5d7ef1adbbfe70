# ticketlab — common tasks. `make` builds, `make test` runs the tests, `make table1` reproduces
# Table 1 of the paper.
.PHONY: all build test table1 table1-sim lint ci clean

all: build

build:
	cargo build --release

test:
	cargo test

# Table 1 (the built-in scenario, scenarios/table1.toml).
table1: build
	./target/release/ticketlab run scenarios/table1.toml

# The same in the deterministic simulator (exact δ arithmetic).
table1-sim: build
	./target/release/ticketlab run scenarios/table1.toml --sim

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

ci:
	bash .ci/run

clean:
	cargo clean
	rm -rf results
