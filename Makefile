# kserve-c — build, test, fuzz and benchmark.
#
#   make deps        install every Debian package the build, tests and benchmarks need (root)
#   make             build build/kserve
#   make check       unit + end-to-end tests, then the same under ASan+UBSan; ends with "N passed, N failed"
#   make check-asan  only the sanitizer run
#   make fuzz        every libFuzzer target for FUZZ_SECONDS each (default 30) under ASan+UBSan
#   make bench       the benchmarks in bench/ (wrk against nginx and against the server)
#   make demo        the platform (kserve up) with the seed's sklearn-iris applied, ingress on 127.0.0.1:8080

PYTHON      := /usr/bin/python3
CC          ?= cc
PKGS        := libh2o-evloop jansson yajl xgboost python3-embed libfyaml sqlite3 libcurl libarchive
NUMPY_INC   := $(shell $(PYTHON) -c 'import numpy; print(numpy.get_include())' 2>/dev/null)
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN        := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -Iinclude -Ibuild/gen $(PKG_CFLAGS) -I$(NUMPY_INC) $(WARN) -g
CFLAGS      ?= -O2
LIBS        := $(PKG_LIBS) -lssl -lcrypto -lpthread -lm
ASAN_FLAGS  := -O1 -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRCS    := $(wildcard src/*/*.c)
MAIN_SRC    := src/main.c
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
HEADERS     := $(wildcard include/ks/*.h src/*/*.h)

.PHONY: all deps check check-unit check-e2e check-asan fuzz bench demo clean

all: build/kserve

# ---- generated: the built-in ClusterServingRuntimes, embedded from config/runtimes/ ------------
GEN := build/gen/builtin_runtimes.inc
$(GEN): $(wildcard config/runtimes/*.yaml) tools/embed.py
	@mkdir -p build/gen
	$(PYTHON) tools/embed.py builtin_runtime_files $(wildcard config/runtimes/*.yaml) > $@.tmp && mv $@.tmp $@

# ---- binaries ------------------------------------------------------------------
build/obj/%.o: %.c $(HEADERS) $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

build-asan/obj/%.o: %.c $(HEADERS) $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

LIB_OBJS      := $(LIB_SRCS:%.c=build/obj/%.o)
LIB_OBJS_ASAN := $(LIB_SRCS:%.c=build-asan/obj/%.o)

build/kserve: $(LIB_OBJS) build/obj/src/main.o
	$(CC) $(CFLAGS) $^ -o $@ $(LIBS)

build-asan/kserve: $(LIB_OBJS_ASAN) build-asan/obj/src/main.o
	$(CC) $(ASAN_FLAGS) $^ -o $@ $(LIBS)

build/tests/%: tests/unit/%.c $(LIB_OBJS) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $< $(LIB_OBJS) -o $@ $(LIBS) -lcmocka

build-asan/tests/%: tests/unit/%.c $(LIB_OBJS_ASAN) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) $< $(LIB_OBJS_ASAN) -o $@ $(LIBS) -lcmocka

UNIT_BINS      := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
UNIT_BINS_ASAN := $(UNIT_SRCS:tests/unit/%.c=build-asan/tests/%)

# ---- tests ------------------------------------------------------------------------
check: build/kserve build-asan/kserve $(UNIT_BINS) $(UNIT_BINS_ASAN)
	@bash tests/run.sh all

check-unit: $(UNIT_BINS)
	@bash tests/run.sh unit

check-e2e: build/kserve
	@bash tests/run.sh e2e

check-asan: build-asan/kserve $(UNIT_BINS_ASAN)
	@bash tests/run.sh asan

# ---- fuzzing (clang's libFuzzer) ---------------------------------------------------------
FUZZ_SECONDS ?= 30
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
# the parsers of outside input and what they need: no h2o, no runtimes
FUZZ_LIB     := $(wildcard src/common/*.c src/protocol/*.c src/api/*.c) src/server/flags.c src/server/router.c

build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(HEADERS) $(wildcard tests/fuzz/*.h)
	@mkdir -p build-fuzz
	clang $(filter-out -Werror,$(BASE_CFLAGS)) -O1 -g -fsanitize=fuzzer,address,undefined,float-cast-overflow \
	    -fno-sanitize-recover=all $< $(FUZZ_LIB) -o $@ -lyajl -lfyaml -ljansson -lm

fuzz: $(FUZZ_BINS)
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# ---- the rest --------------------------------------------------------------------------
bench: build/kserve
	bash bench/run.sh
	bash bench/platform.sh

demo: build/kserve
	bash tools/demo.sh

# Debian 12 packages for everything above (run as root; idempotent)
DEB_PKGS := build-essential pkg-config clang libclang-rt-14-dev curl \
            libh2o-evloop-dev libssl-dev libjansson-dev libyajl-dev libxgboost-dev libpython3-dev \
            libfyaml-dev libsqlite3-dev libcurl4-openssl-dev libarchive-dev sqlite3 \
            python3 python3-numpy python3-sklearn python3-joblib python3-pandas python3-xgboost \
            python3-pytest python3-requests libcmocka-dev wrk hey nginx-light

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS)
	# node/npm run the S3-compatible test server (s3rver); the machine image may already have them
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm

clean:
	rm -rf build build-asan build-fuzz
