# ticketlab — common tasks. `make` builds, `make test` runs the tests, `make table1` reproduces
# Table 1 of the paper.
.PHONY: all build test table1 table1-sim bench reference fuzz mutants lint ci clean

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

# Not a test: a measurement. Table 1's protocols with real processes (n = 5, δ = 0, 20,000
# tickets per run) at 1, 16, 64 and 256 tickets in flight: throughput (tickets/s) and latency
# p50/p99 per point, with the machine; writes results/bench/bench.csv and bench.json. Then the
# saturation sweep (open loop, offered load → throughput, p99): results/bench/saturation/.
bench: build
	./target/release/ticketlab bench

# Reference results kept in the repository (results/reference/, README): Table 1 with real
# processes and in the simulator (summary.json, the table as text, the machine it ran on), the
# paper's figures as diagrams, a sweep over n with its plots. Regenerate after changing what
# they show; the figures and the simulator are deterministic, the real-process table is not.
REF := results/reference
TL := ./target/release/ticketlab
reference: build
	mkdir -p $(REF)
	{ echo "date: $$(date -u +%Y-%m-%dT%H:%MZ)"; echo "kernel: $$(uname -srm)"; \
	  echo "cpu: $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') × $$(nproc)"; \
	  echo "memory: $$(free -g | awk '/Mem:/ {print $$2}') GiB"; echo "rustc: $$(rustc -V)"; \
	  echo "ticketlab: $$($(TL) --version)"; } > $(REF)/machine.txt
	NO_COLOR=1 $(TL) run --out $(REF)/table1-processes > $(REF)/table1-processes.txt || true
	NO_COLOR=1 $(TL) run --sim --out $(REF)/table1-sim > $(REF)/table1-sim.txt
	for f in figure1 figure2 figure5 figure6; do \
	  NO_COLOR=1 $(TL) run scenarios/$$f.toml --sim --diagram --out $(REF)/$$f > $(REF)/$$f.txt \
	  && NO_COLOR=1 $(TL) diagram $(REF)/$$f --width 80 > $(REF)/$$f.diagram.txt || exit 1; done
	NO_COLOR=1 $(TL) run --sim --sweep cluster.servers=3,5,7,9 --out $(REF)/sweep-n > $(REF)/sweep-n.txt
	# Histories of the big runs stay out of the repository (the figures' stay: they are drawn).
	rm -f $(REF)/table1-*/*/history.jsonl $(REF)/sweep-n/points/*/*/history.jsonl \
	  $(REF)/sweep-n/points/*/*/latency-cdf.svg

# The wire decoder fuzz: a million decodings of random and mutated frames as every frame type
# (`cargo test` runs 15,000 of them); prints "N execs, 0 crashes".
fuzz:
	TICKETLAB_FUZZ_EXECS=1000000 cargo test --release --lib garbage_decodes_to_errors_never_panics -- --nocapture

# Not a test: mutation testing of the protocol crate with its own tests (needs
# `cargo install cargo-mutants`; about 1,140 mutants, ~60 min on 2 cores). Writes
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
