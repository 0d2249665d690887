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
# the executable (model server) and its two plugins (include/ks/plugin.h) link different libraries
CORE_PKGS     := libh2o-evloop jansson yajl xgboost
SKLEARN_PKGS  := python3-embed
PLATFORM_PKGS := libfyaml sqlite3 libcurl libarchive jansson
PKGS          := $(CORE_PKGS) $(SKLEARN_PKGS) $(PLATFORM_PKGS)
NUMPY_INC   := $(shell $(PYTHON) -c 'import numpy; print(numpy.get_include())' 2>/dev/null)
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CORE_LIBS   := $(shell pkg-config --libs $(CORE_PKGS) 2>/dev/null) -lssl -lcrypto -lpthread -lm -ldl
SKLEARN_LIBS  := $(shell pkg-config --libs $(SKLEARN_PKGS) 2>/dev/null)
PLATFORM_LIBS := $(shell pkg-config --libs $(PLATFORM_PKGS) 2>/dev/null)
LIBS        := $(CORE_LIBS) $(SKLEARN_LIBS) $(PLATFORM_LIBS)

WARN        := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -fPIC -Iinclude -Ibuild/gen $(PKG_CFLAGS) -I$(NUMPY_INC) $(WARN) -g
CFLAGS      ?= -O2
ASAN_FLAGS  := -O1 -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer

LIB_SRCS    := $(wildcard src/*/*.c)
SKLEARN_SRCS  := src/runtimes/sklearn.c src/runtimes/sklearn_zygote.c
PLATFORM_SRCS := $(wildcard src/api/*.c src/apiserver/*.c src/cli/*.c src/daemon/*.c src/ingress/*.c \
                   src/reconciler/*.c src/storage/*.c src/store/*.c src/supervisor/*.c src/autoscaler/*.c)
CORE_SRCS     := $(filter-out $(SKLEARN_SRCS) $(PLATFORM_SRCS),$(LIB_SRCS))
MAIN_SRC    := src/main.c
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
HEADERS     := $(wildcard include/ks/*.h src/*/*.h)

.PHONY: all deps check check-unit check-e2e check-asan fuzz bench demo clean

all: build/kserve build/kserve-sklearn.so build/kserve-platform.so

# ---- C SDK ---- (include/ks/sdk.h, docs/sdk.md) ------------------------------------------------
# libkserve-sdk.so is src/sdk/ on the model server's HTTP, router and JSON code; the programs in
# examples/ link against it.  src/sdk/*.c stays in LIB_SRCS (the unit tests link it) but leaves the
# executable, which does not use it.  The ASan build has its own library and examples, which
# tests/e2e/test_sdk.py finds next to $KSERVE_BIN (build-asan/examples/).
SDK_SRCS     := $(wildcard src/sdk/*.c)
SDK_LIB_SRCS := $(SDK_SRCS) src/http/server.c src/server/router.c src/server/metrics.c \
                src/common/buf.c src/common/io.c src/common/json_write.c
SDK_LIBS     := $(shell pkg-config --libs libh2o-evloop jansson 2>/dev/null) -lssl -lcrypto -lpthread -lm
SDK_MAP      := src/sdk/libkserve-sdk.map
SDK_EXAMPLES := iris-transformer linear-model
# what a user's build needs: the header and the library
SDK_EX_FLAGS := -std=gnu11 -Iinclude $(WARN) -g
CORE_SRCS    := $(filter-out $(SDK_SRCS),$(CORE_SRCS))

all: build/libkserve-sdk.so $(SDK_EXAMPLES:%=build/examples/%)
check check-asan: build-asan/libkserve-sdk.so $(SDK_EXAMPLES:%=build-asan/examples/%)

build/libkserve-sdk.so: $(SDK_LIB_SRCS:%.c=build/obj/%.o) $(SDK_MAP)
	$(CC) $(CFLAGS) -shared -Wl,--version-script=$(SDK_MAP) -Wl,-soname,libkserve-sdk.so $(filter %.o,$^) -o $@ $(SDK_LIBS)

build-asan/libkserve-sdk.so: $(SDK_LIB_SRCS:%.c=build-asan/obj/%.o) $(SDK_MAP)
	$(CC) $(ASAN_FLAGS) -shared -Wl,--version-script=$(SDK_MAP) -Wl,-soname,libkserve-sdk.so $(filter %.o,$^) -o $@ $(SDK_LIBS)

build/examples/iris-transformer build-asan/examples/iris-transformer: examples/transformer/iris_transformer.c
build/examples/linear-model build-asan/examples/linear-model: examples/model/linear_model.c

# an example finds the library in the directory above its own
build/examples/%: include/ks/sdk.h build/libkserve-sdk.so
	@mkdir -p $(dir $@)
	$(CC) $(SDK_EX_FLAGS) $(CFLAGS) $(filter %.c,$^) -o $@ -Lbuild -lkserve-sdk -ljansson -Wl,-rpath,'$$ORIGIN/..'

build-asan/examples/%: include/ks/sdk.h build-asan/libkserve-sdk.so
	@mkdir -p $(dir $@)
	$(CC) $(SDK_EX_FLAGS) $(ASAN_FLAGS) $(filter %.c,$^) -o $@ -Lbuild-asan -lkserve-sdk -ljansson -Wl,-rpath,'$$ORIGIN/..'
# ---- end of C SDK ----

# ---- generated: the built-in ClusterServingRuntimes, embedded from config/runtimes/ ------------
GEN := build/gen/builtin_runtimes.inc
$(GEN): $(wildcard config/runtimes/*.yaml) tools/embed.py
	@mkdir -p build/gen
	$(PYTHON) tools/embed.py builtin_runtime_files $(wildcard config/runtimes/*.yaml) > $@.tmp && mv $@.tmp $@

# ---- binaries ------------------------------------------------------------------
build/obj/%.o: %.c $(HEADERS) $(GEN) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

build-asan/obj/%.o: %.c $(HEADERS) $(GEN) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

LIB_OBJS      := $(LIB_SRCS:%.c=build/obj/%.o)
LIB_OBJS_ASAN := $(LIB_SRCS:%.c=build-asan/obj/%.o)

# the executable exports its symbols (-rdynamic) for the plugins to use
build/kserve: $(CORE_SRCS:%.c=build/obj/%.o) build/obj/src/main.o
	$(CC) $(CFLAGS) -rdynamic $^ -o $@ $(CORE_LIBS)

build/kserve-sklearn.so: $(SKLEARN_SRCS:%.c=build/obj/%.o)
	$(CC) $(CFLAGS) -shared $^ -o $@ $(SKLEARN_LIBS)

build/kserve-platform.so: $(PLATFORM_SRCS:%.c=build/obj/%.o)
	$(CC) $(CFLAGS) -shared $^ -o $@ $(PLATFORM_LIBS)

build-asan/kserve: $(CORE_SRCS:%.c=build-asan/obj/%.o) build-asan/obj/src/main.o build-asan/kserve-sklearn.so build-asan/kserve-platform.so
	$(CC) $(ASAN_FLAGS) -rdynamic $(filter %.o,$^) -o $@ $(CORE_LIBS)

build-asan/kserve-sklearn.so: $(SKLEARN_SRCS:%.c=build-asan/obj/%.o)
	$(CC) $(ASAN_FLAGS) -shared $^ -o $@ $(SKLEARN_LIBS)

build-asan/kserve-platform.so: $(PLATFORM_SRCS:%.c=build-asan/obj/%.o)
	$(CC) $(ASAN_FLAGS) -shared $^ -o $@ $(PLATFORM_LIBS)

build/tests/%: tests/unit/%.c $(LIB_OBJS) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -rdynamic $< $(LIB_OBJS) -o $@ $(LIBS) -lcmocka

build-asan/tests/%: tests/unit/%.c $(LIB_OBJS_ASAN) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) -rdynamic $< $(LIB_OBJS_ASAN) -o $@ $(LIBS) -lcmocka

UNIT_BINS      := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
UNIT_BINS_ASAN := $(UNIT_SRCS:tests/unit/%.c=build-asan/tests/%)

# ---- tests ------------------------------------------------------------------------
check: all build-asan/kserve $(UNIT_BINS) $(UNIT_BINS_ASAN)
	@bash tests/run.sh all

check-unit: $(UNIT_BINS)
	@bash tests/run.sh unit

check-e2e: all
	@bash tests/run.sh e2e

check-asan: build-asan/kserve $(UNIT_BINS_ASAN)
	@bash tests/run.sh asan

# ---- fuzzing (clang's libFuzzer) ---------------------------------------------------------
FUZZ_SECONDS ?= 30
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
# the parsers of outside input and what they need: no h2o, no runtimes
FUZZ_LIB     := $(filter-out src/autoscaler/scaler.c,$(wildcard src/common/*.c src/protocol/*.c src/api/*.c src/autoscaler/*.c)) \
                src/server/flags.c src/server/router.c

build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB) $(HEADERS) $(wildcard tests/fuzz/*.h)
	@mkdir -p build-fuzz
	clang $(filter-out -Werror,$(BASE_CFLAGS)) -O1 -g -fsanitize=fuzzer,address,undefined,float-cast-overflow \
	    -fno-sanitize-recover=all $< $(FUZZ_LIB) -o $@ -lyajl -lfyaml -ljansson -lm

fuzz: $(FUZZ_BINS)
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# ---- the rest --------------------------------------------------------------------------
bench: all
	bash bench/run.sh
	bash bench/platform.sh

demo: all
	bash tools/demo.sh

# Debian 12 packages for everything above (run as root; idempotent)
DEB_PKGS := build-essential pkg-config clang libclang-rt-14-dev curl \
            libh2o-evloop-dev libssl-dev libjansson-dev libyajl-dev libxgboost-dev libpython3-dev \
            libfyaml-dev libsqlite3-dev libcurl4-openssl-dev libarchive-dev sqlite3 \
            python3 python3-numpy python3-sklearn python3-joblib python3-pandas python3-xgboost \
            python3-pytest python3-requests python3-pil libcmocka-dev wrk hey nginx-light

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS)
	# node/npm run the S3-compatible test server (s3rver); the machine image may already have them
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm

clean:
	rm -rf build build-asan build-fuzz
