# The two commands of the README's quick start, and a few helpers. Each target installs what is missing.
#   make demo   install deps, build (quietly), start a local broker, run a windowed aggregate behind a join with
#               exactly-once on generated data, kill -9 and restart it midway, check the results against the input
#   make test   install deps, build, start a local broker, run every test (unit, integration, e2e)
#   make fuzz   install deps, build the fuzz targets with clang (build-fuzz/), fuzz each for FUZZ_SECONDS
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 300

.PHONY: all deps build test unit demo kafka-start kafka-stop clean sanitize bench fuzz

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Unit tests only: seconds, no broker.
unit: build
	@cd $(BUILD_DIR) && ctest -L unit --output-on-failure -j $(JOBS)

test: build
	@scripts/run-tests $(BUILD_DIR)

# The same build as `make build`, summarised: one progress line, the full output in $(BUILD_DIR)/demo-build.log
# (its tail shown if the build fails). Then scripts/demo, which exits non-zero if a result is wrong.
demo: deps
	@BUILD_TYPE='$(BUILD_TYPE)' CMAKE_FLAGS='$(CMAKE_FLAGS)' JOBS='$(JOBS)' scripts/demo --build $(BUILD_DIR)

# Coverage-guided fuzzing (fuzz/README.md): each target for FUZZ_SECONDS into build-fuzz/corpus, crashing inputs
# into build-fuzz/crashes, then a table of seconds, executions, corpus size and crashes. `make test` runs every
# target for a few seconds only.
fuzz: deps
	@FUZZ_JOBS=$(JOBS) scripts/fuzz run --seconds $(FUZZ_SECONDS)

sanitize:
	@$(MAKE) build BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_FLAGS=-DSLUICE_SANITIZE=ON

kafka-start:
	@scripts/local-kafka start

kafka-stop:
	@scripts/local-kafka stop

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz

# Nexmark: sluice vs the raw ceiling vs Kafka Streams, one table per query (docs/BENCHMARKS.md). Builds
# build-release/, starts its own broker on port 39092, writes bench/results/. `make bench BENCH_ARGS=--quick`
# for a smoke run of a few minutes, BENCH_ARGS="--queries q0,q5" for some queries.
bench: deps
	@bench/nexmark/run $(BENCH_ARGS)
