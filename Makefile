# ticketlab — common tasks. `make` builds, `make test` runs the tests, `make table1` reproduces
# Table 1 of the paper.
.PHONY: all build test table1 table1-sim bench mutants lint ci clean

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

# Not a test: a measurement. Table 1 (built-in scenario, n = 5, 100 tickets) with real processes
# at δ = 10 ms and δ = 1 ms; prints measured latency / theory per protocol and writes
# results/bench/delta-<δ>ms/.
bench: build
	./target/release/ticketlab bench

# Not a test: mutation testing of the protocol crate with its own tests (needs
# `cargo install cargo-mutants`; about 800 mutants, ~30 min on 2 cores). Writes
# results/mutants/mutants.out/{caught,missed,unviable,timeout}.txt and prints the summary.
mutants:
	cargo mutants -p ticketlab-protocols --output results/mutants || true
	@for f in caught missed unviable timeout; do \
		printf '%-9s %s\n' $$f "$$(wc -l < results/mutants/mutants.out/$$f.txt)"; done

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

ci:
	bash .ci/run

clean:
	cargo clean
	rm -rf results
