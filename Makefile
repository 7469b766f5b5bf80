# LabFlow — a loadable SQLite extension that runs deep-learning experiments.
#
#   make            build labflow.so
#   make demo       install missing packages, build, train on Fashion-MNIST
#   make test       install missing packages, build, run every test (then
#                   all of them again under ASan+UBSan+LSan)
#   make bench      speed/memory against PyTorch (see tools/bench/)
#   make install    PREFIX=/usr/local DESTDIR=
#   make asan       run the test suite with ASan+UBSan builds
#   make lint       cppcheck and clang-tidy (chosen checks) over ext/ core/ kernels/
#   make format     clang-format -i (.clang-format) over their sources and headers
#   make ctest-lib  the static library of core/ + kernels/ the C tests link
#
# `make test` builds with -Werror (WERROR=1); a plain `make` warns only, so a
# newer compiler's new warning never stops a user's build.

CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
OPT     ?= -O2
WERROR  ?= 0
WARN     = -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror)
CFLAGS  += $(OPT) -g -std=c11 -fopenmp -fno-math-errno -D_GNU_SOURCE -fPIC $(WARN) -fvisibility=hidden
# Each object records the headers it includes (build/.../x.d, read below):
# touching a header rebuilds only its users; -MP keeps a deleted header
# from breaking the build.
DEPFLAGS = -MMD -MP
# No -lsqlite3: the extension calls SQLite only through the sqlite3_api table
# the host hands to sqlite3_labflow_init() (core/lf_sqlite.h);
# tests/sh/test_build_habits.sh checks it.
LDLIBS  += -ldnnl -lcjson -lz -lm -lgomp -lpthread
# nodelete: a host that dlclose()s the extension when its connection closes
# must not unmap code that oneDNN's OpenMP worker threads still run.
LDFLAGS += -shared -Wl,-z,nodelete -Wl,-z,defs

EXT_SRC     := $(wildcard ext/*.c)
CORE_SRC    := $(wildcard core/*.c)
KERNEL_SRC  := $(wildcard kernels/*.c)
SCHEMA_C    := build/schema_sql.c
SRC         := $(EXT_SRC) $(CORE_SRC) $(KERNEL_SRC) $(SCHEMA_C)
BUILD       ?= build/rel

# ONNX export (ppl_export) when protobuf-c and the ONNX schema are here:
# onnx.pb-c.{c,h} are generated from libonnx-dev's onnx.proto by protoc-c
# into build/gen (never committed). Without them LabFlow builds all the
# same and ppl_export says what to install. LF_ONNX=0 builds without.
ONNX_PROTO  ?= /usr/include/onnx/onnx.proto
ONNX_GEN    := build/gen
LF_ONNX     ?= $(shell command -v protoc-c >/dev/null 2>&1 && pkg-config --exists libprotobuf-c 2>/dev/null && test -f $(ONNX_PROTO) && echo 1 || echo 0)
ifeq ($(LF_ONNX),1)
SRC         += $(ONNX_GEN)/onnx.pb-c.c
CFLAGS      += -DLF_HAVE_ONNX -I$(ONNX_GEN) $(shell pkg-config --cflags libprotobuf-c)
LDLIBS      += $(shell pkg-config --libs libprotobuf-c)
endif
OBJ         := $(patsubst %.c,$(BUILD)/%.o,$(SRC))
LINT_SRC    := $(EXT_SRC) $(CORE_SRC) $(KERNEL_SRC)
FORMAT_SRC  := $(LINT_SRC) $(wildcard ext/*.h core/*.h kernels/*.h)

# The C tests (tests/run_c.sh) link one static library of core/ + kernels/
# built with the tests' flags (LF_STANDALONE: plain libsqlite3), instead of
# compiling every source again for each test binary. CTEST_FLAGS (the
# sanitizers under tests/asan.sh) pick their own directory.
CTEST_FLAGS ?=
CTEST_CFLAGS = -Icore -Ikernels -fopenmp -fno-math-errno -O1 -g -std=c11 -D_GNU_SOURCE -DLF_STANDALONE $(WARN) $(CTEST_FLAGS)
CTEST_BUILD := build/ctest$(if $(strip $(CTEST_FLAGS)),-$(shell printf '%s' '$(CTEST_FLAGS)' | cksum | cut -d' ' -f1))
CTEST_OBJ   := $(patsubst %.c,$(CTEST_BUILD)/%.o,$(CORE_SRC) $(KERNEL_SRC) $(SCHEMA_C))
CTEST_LIB   := $(CTEST_BUILD)/liblabflow_core.a

.PHONY: all deps demo test test-only bench install uninstall asan clean check-all fuzz lint ctest-lib ctest-lib-path werror-check mpi format

# labflow-mpi (docs/mpi.md) is built only where Open MPI's compiler
# wrapper and mpi.h are found; the extension never links MPI.
MPICC   ?= mpicc
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && echo '\#include <mpi.h>' | $(MPICC) -E -x c - >/dev/null 2>&1 && echo 1)
MPI_SRC  := $(wildcard tools/mpi/*.c)
# MPI_BUILD: where its objects go (tests/asan.sh builds a sanitized
# build/asan-mpi/labflow-mpi with OPT="-O1 -fsanitize=...").
MPI_BUILD ?= build/mpi
MPI_OBJ  := $(patsubst %.c,$(MPI_BUILD)/%.o,$(filter-out ext/%,$(SRC)) $(MPI_SRC))

all: labflow.so $(if $(HAVE_MPI),labflow-mpi)

# After tools/deps.sh has just installed Open MPI, this make already decided
# HAVE_MPI without it: a new make decides again.
mpi:
	@if command -v $(MPICC) >/dev/null 2>&1; then $(MAKE) --no-print-directory labflow-mpi; fi

labflow-mpi $(MPI_BUILD)/labflow-mpi: $(MPI_OBJ)
	$(MPICC) $(OPT) -g -fopenmp -o $@ $(MPI_OBJ) $(LDLIBS) -lsqlite3

$(MPI_BUILD)/tools/mpi/%.o: tools/mpi/%.c $(MPI_BUILD)/tools/mpi/%.d
	@mkdir -p $(dir $@)
	$(MPICC) $(filter-out -fPIC -fvisibility=hidden,$(CFLAGS)) -DLF_STANDALONE $(DEPFLAGS) -c -o $@ $<

$(MPI_BUILD)/%.o: %.c $(MPI_BUILD)/%.d
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fPIC -fvisibility=hidden,$(CFLAGS)) -DLF_STANDALONE $(DEPFLAGS) -c -o $@ $<

# The generated header comes before the code that includes it.
ifeq ($(LF_ONNX),1)
$(BUILD)/core/lf_onnx_pb.o: $(ONNX_GEN)/onnx.pb-c.h
$(MPI_BUILD)/core/lf_onnx_pb.o: $(ONNX_GEN)/onnx.pb-c.h
endif

labflow.so: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDFLAGS) $(LDLIBS)

# The compiler's warnings are kept next to the object (x.o.warn) so that
# `make test` (WERROR=1) also refuses objects an earlier plain `make` built
# with a warning (werror-check), without rebuilding everything.
$(BUILD)/%.o: %.c $(BUILD)/%.d
	@mkdir -p $(dir $@)
	@echo "$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<"
	@$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $< 2> $@.warn; rc=$$?; cat $@.warn >&2; exit $$rc

ctest-lib: $(CTEST_LIB)

ctest-lib-path:
	@echo $(CTEST_LIB)

$(CTEST_LIB): $(CTEST_OBJ)
	rm -f $@
	$(AR) rcs $@ $(CTEST_OBJ)

$(CTEST_BUILD)/%.o: %.c $(CTEST_BUILD)/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CTEST_CFLAGS) $(DEPFLAGS) -c -o $@ $<

# An object without its .d (built before dependencies were tracked) is
# rebuilt once: the empty rule makes the missing .d count as new.
$(BUILD)/%.d: ;
$(CTEST_BUILD)/%.d: ;
$(MPI_BUILD)/%.d: ;
.PRECIOUS: $(BUILD)/%.d $(CTEST_BUILD)/%.d $(MPI_BUILD)/%.d
-include $(OBJ:.o=.d) $(CTEST_OBJ:.o=.d) $(MPI_OBJ:.o=.d)

werror-check: all
	@bad=$$(for w in $(OBJ:=.warn); do [ -s "$$w" ] && echo "$$w"; done); \
	if [ "$(WERROR)" = 1 ] && [ -n "$$bad" ]; then \
	  echo "make: objects built with warnings (make test builds with -Werror):"; \
	  for w in $$bad; do cat "$$w"; done; exit 1; fi

# cppcheck and clang-tidy with the checks chosen in tools/lint.sh; clean is
# part of make test. LF_LINT_FORMAT=1 adds the clang-format check.
lint:
	sh tools/lint.sh $(LINT_SRC)

# Rewrites the sources in the style of .clang-format (which says what it
# cannot keep of the existing style). The tree has not been reformatted yet.
format:
	$$(command -v clang-format-14 || command -v clang-format) -i $(FORMAT_SRC)

# The schema lives in sql/schema.sql and is compiled in as a C string.
$(SCHEMA_C): sql/schema.sql tools/embed_text.sh
	@mkdir -p build
	sh tools/embed_text.sh lf_schema_sql sql/schema.sql > $@

$(ONNX_GEN)/onnx.pb-c.c $(ONNX_GEN)/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(ONNX_GEN)
	cp $(ONNX_PROTO) $(ONNX_GEN)/onnx.proto
	cd $(ONNX_GEN) && protoc-c --c_out=. onnx.proto

# Installs what is missing from Debian (no-op when everything is there).
deps:
	sh tools/deps.sh

demo: deps all
	sh examples/run-demo.sh

# The test path builds with -Werror; exported, so tests/asan.sh's build and
# the C tests (tests/run_c.sh) use it too.
test test-only: export WERROR = 1

test: deps werror-check lint mpi
	sh tools/host-deps.sh
	sh tests/run.sh

# Same as test without the package check (for a machine already set up).
test-only: werror-check lint mpi
	sh tests/run.sh

# The suite with an ASan+UBSan build of the extension (build/asan/labflow.so).
asan: deps
	sh tests/asan.sh

# libFuzzer harnesses, FUZZ_SECONDS each (CI: 30; release checks: 600).
fuzz: deps
	$(MAKE) -C tests/fuzz run FUZZ_SECONDS=$(or $(FUZZ_SECONDS),30)

# The long reliability variants: 200 random kills, longer concurrency runs.
check-all: deps all mpi
	sh tests/reliability/check-all.sh

bench: deps all mpi
	sh tools/bench/run.sh

install: all
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0755 labflow.so $(DESTDIR)$(LIBDIR)/labflow.so
	install -d $(DESTDIR)$(INCLUDEDIR)
	install -m 0644 include/labflow_plugin.h $(DESTDIR)$(INCLUDEDIR)/labflow_plugin.h
	@# labflow-mpi exists only where Open MPI's compiler is (make mpi)
	if [ -f labflow-mpi ]; then install -d $(DESTDIR)$(BINDIR) && install -m 0755 labflow-mpi $(DESTDIR)$(BINDIR)/labflow-mpi; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/labflow.so $(DESTDIR)$(INCLUDEDIR)/labflow_plugin.h $(DESTDIR)$(BINDIR)/labflow-mpi

clean:
	rm -rf build labflow.so labflow-mpi tests/out
