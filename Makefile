# LabFlow — a loadable SQLite extension that runs deep-learning experiments.
#
#   make            build labflow.so
#   make demo       install missing packages, build, train on Fashion-MNIST
#   make test       install missing packages, build, run every test (then
#                   all of them again under ASan+UBSan+LSan)
#   make bench      speed/memory against PyTorch (see tools/bench/)
#   make install    PREFIX=/usr/local DESTDIR=
#   make asan       run the test suite with ASan+UBSan builds

CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
OPT     ?= -O2
CFLAGS  += $(OPT) -g -std=c11 -fopenmp -fno-math-errno -D_GNU_SOURCE -fPIC -Wall -Wextra -fvisibility=hidden
LDLIBS  += -ldnnl -lcjson -lz -lm -lgomp -lpthread
# nodelete: a host that dlclose()s the extension when its connection closes
# must not unmap code that oneDNN's OpenMP worker threads still run.
LDFLAGS += -shared -Wl,-z,nodelete -Wl,-z,defs

EXT_SRC     := $(wildcard ext/*.c)
CORE_SRC    := $(wildcard core/*.c)
KERNEL_SRC  := $(wildcard kernels/*.c)
SCHEMA_C    := build/schema_sql.c
SRC         := $(EXT_SRC) $(CORE_SRC) $(KERNEL_SRC) $(SCHEMA_C)
HDR         := $(wildcard ext/*.h core/*.h kernels/*.h)
BUILD       ?= build/rel
OBJ         := $(patsubst %.c,$(BUILD)/%.o,$(SRC))

.PHONY: all deps demo test test-only bench install uninstall asan clean check-all fuzz

all: labflow.so

labflow.so: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDFLAGS) $(LDLIBS) -lsqlite3

$(BUILD)/%.o: %.c $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The schema lives in sql/schema.sql and is compiled in as a C string.
$(SCHEMA_C): sql/schema.sql tools/embed_text.sh
	@mkdir -p build
	sh tools/embed_text.sh lf_schema_sql sql/schema.sql > $@

# Installs what is missing from Debian (no-op when everything is there).
deps:
	sh tools/deps.sh

demo: deps all
	sh examples/run-demo.sh

test: deps all
	sh tools/host-deps.sh
	sh tests/run.sh

# Same as test without the package check (for a machine already set up).
test-only: all
	sh tests/run.sh

# The suite with an ASan+UBSan build of the extension (build/asan/labflow.so).
asan: deps
	sh tests/asan.sh

# libFuzzer harnesses, FUZZ_SECONDS each (CI: 30; release checks: 600).
fuzz: deps
	$(MAKE) -C tests/fuzz run FUZZ_SECONDS=$(or $(FUZZ_SECONDS),30)

# The long reliability variants: 200 random kills, longer concurrency runs.
check-all: deps all
	sh tests/reliability/check-all.sh

bench: deps all
	sh tools/bench/run.sh

install: all
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0755 labflow.so $(DESTDIR)$(LIBDIR)/labflow.so

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/labflow.so

clean:
	rm -rf build labflow.so tests/out
