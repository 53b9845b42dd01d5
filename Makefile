# Makefile - builds libcorio (static and shared), its tests, benchmarks and examples.
#   make run              build the library and the demo (examples/tour.c) and run it
#   make examples / tests / benches   build just those
#   make test             build and run every test; ends with "N passed, N failed, N skipped"
#   make test SANITIZE=1  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test SWITCH=ucontext   the portable ucontext context switch instead of the assembly one
#   make test VALGRIND=1  every test under valgrind's memcheck (errors and definite leaks fail the case)
#   make test TSAN=1      the tests under ThreadSanitizer (every context switch is annotated)
#   make test-aarch64     cross-build for AArch64 and run the tests under qemu-user
#   make bench            run the benchmarks (bench/run.sh), printing RESULT lines and ratios
#   make docs             regenerate docs/reference/ from the headers
#   make man              the man pages, into build/<config>/man (make install installs them)
#   make abi-dump         at a release: record the ABI that later builds are checked against (abi/, docs/abi.md)
#   make lint             clang-tidy and cppcheck (tools/lint.sh); any finding fails
# Build products go to build/<config>/, so configurations never mix.

# `make` alone builds everything, whatever rules the mk/*.mk fragments define first
.DEFAULT_GOAL := all
# in parallel on every core unless told otherwise (a fresh clone's `make run` built one file at a time)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
ARCH ?= $(shell $(CC) -dumpmachine | cut -d- -f1)
SWITCH ?= asm
OPT ?= -O2
RUNNER ?=
ifdef VALGRIND
# --fair-sched: valgrind runs one thread at a time, and a pool thread in an endless SQLite statement once kept the
# loop thread from running for 27 s (test_sqlite timeout_scope_interrupts in CI); a fair lock takes turns.
RUNNER := valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
endif

CONFIG := $(ARCH)-$(notdir $(CC))-$(SWITCH)$(if $(SANITIZE),-asan)$(if $(TSAN),-tsan)$(if $(filter -O0,$(OPT)),-O0)
BUILD ?= build/$(CONFIG)

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-g $(OPT) -fno-omit-frame-pointer -Iinclude -Isrc
# Stack probes: a frame larger than a task's guard region then faults in the guard instead of writing into the
# neighbouring task's stack (docs/design.md, "Stacks"). Left out where the compiler lacks them;
# `make STACK_CLASH=` builds without, as user code built without corio's pkg-config or CMake flags would be.
ifeq ($(origin STACK_CLASH),undefined)
STACK_CLASH := $(shell $(CC) -fstack-clash-protection -Werror -x c -c /dev/null -o /dev/null >/dev/null 2>&1 && \
	echo -fstack-clash-protection)
endif
CFLAGS_BASE += $(STACK_CLASH)
ifdef SANITIZE
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifdef TSAN
CFLAGS_BASE += -fsanitize=thread
LDFLAGS += -fsanitize=thread
endif
ifeq ($(SWITCH),ucontext)
CFLAGS_BASE += -DCORIO_SWITCH_UCONTEXT
endif
# Optional pieces, built when their Debian -dev package is present:
#   liburing-dev        the io_uring backend, then the default (`make test BACKEND=epoll` runs the suite on epoll)
#   libhttp-parser-dev  examples/http_server.c (Node's http-parser)
# (a link test: a cross compiler finds the build machine's headers in /usr/include but not its libraries)
have = $(shell printf '#include <$(1)>\nint main(void) { return 0; }\n' | \
	$(CC) -x c - -l$(2) -o /dev/null >/dev/null 2>&1 && echo 1)
HAVE_URING := $(call have,liburing.h,uring)
HAVE_HTTP_PARSER := $(call have,http_parser.h,http_parser)
ifeq ($(HAVE_URING),1)
CFLAGS_BASE += -DCORIO_HAVE_URING
LDLIBS += -luring
endif
ifdef BACKEND
RUNNER := env CORIO_BACKEND=$(BACKEND) $(RUNNER)
endif

CFLAGS_LIB := $(CFLAGS_BASE) -fPIC -fvisibility=hidden
# gcc's SLP vectoriser pairs the ready queue's head and tail stores into one 16-byte store, which the next
# task's 8-byte loads cannot forward from: bench_switch measured 10-20% slower with it.
ifneq ($(findstring gcc,$(notdir $(CC))),)
CFLAGS_LIB += -fno-tree-slp-vectorize
endif
CFLAGS += $(CFLAGS_BASE)
LDLIBS += -lpthread

LIB_SRC := $(wildcard src/*.c)
ifeq ($(SWITCH),asm)
LIB_ASM := src/arch/$(ARCH).S
endif
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o) $(LIB_ASM:src/arch/%.S=$(BUILD)/obj/arch_%.o)

# The version is the header's CORIO_VERSION_* (one place to change at a release); the libraries' file names carry
# it. SOVERSION, the N of the SONAME libcorio.so.N, moves only when a binary built against the last release could
# break (docs/abi.md); tests/check_abi.sh fails on such a change made without moving it.
CORIO_VERSION := $(shell sed -n 's/^\#define CORIO_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' include/corio.h | \
	paste -sd.)
SOVERSION := 1
SONAME := libcorio.so.$(SOVERSION)
STATIC := $(BUILD)/libcorio.a
SHARED := $(BUILD)/libcorio.so.$(CORIO_VERSION)

# Optional modules (PostgreSQL, HTTP client, TLS, SQLite...): each mk/NAME.mk adds NAME to ALL_MODULES, and to
# MODULES with NAME_CFLAGS / NAME_LDLIBS when its Debian -dev package is present. A module is modules/NAME.c with
# the header include/corio_NAME.h, built into its own libcorio_NAME.a / .so so the core keeps depending on libc
# alone; its tests are tests/test_NAME.c, linked with the module.
# A fragment may also list sources to leave out in TEST_SKIP / EXAMPLE_SKIP (e.g. an example needing a missing
# module), and extra things for `make all` in EXTRA_TARGETS.
ALL_MODULES :=
MODULES :=
TEST_SKIP :=
EXAMPLE_SKIP :=
EXTRA_TARGETS :=
include $(sort $(wildcard mk/*.mk))
MISSING_MODULES := $(filter-out $(MODULES),$(ALL_MODULES))
MODULE_STATIC := $(MODULES:%=$(BUILD)/libcorio_%.a)
MODULE_SHARED := $(MODULES:%=$(BUILD)/libcorio_%.so.$(CORIO_VERSION))

TEST_SRC := $(filter-out tests/test_main.c $(MISSING_MODULES:%=tests/test_%.c) $(TEST_SKIP),$(wildcard tests/test_*.c))
ifneq ($(HAVE_HTTP_PARSER),1)
TEST_SRC := $(filter-out tests/test_http.c,$(TEST_SRC))
endif
TESTS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
EXAMPLE_SRC := $(filter-out $(EXAMPLE_SKIP),$(wildcard examples/*.c))
ifneq ($(HAVE_HTTP_PARSER),1)
EXAMPLE_SRC := $(filter-out examples/http_server.c,$(EXAMPLE_SRC))
endif
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

.PHONY: all lib run test tests examples benches test-aarch64 bench clean format
# keep intermediate objects (the module objects are built by a chain of pattern rules)
.SECONDARY:
all: lib $(TESTS) $(BENCHES) $(EXAMPLES) $(EXTRA_TARGETS)
lib: $(STATIC) $(SHARED) $(MODULE_STATIC) $(MODULE_SHARED)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) include/corio.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@
$(BUILD)/obj/arch_%.o: src/arch/%.S
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^
# Each shared library exports exactly the functions its public header declares (CORIO_EXTERN), through a linker
# version script made from that header: nothing internal leaks (corio__*, the assembly's globals), whatever its
# visibility. tests/check_abi.sh compares what is exported with the committed list abi/NAME.symbols.
$(BUILD)/%.map: include/%.h
	@mkdir -p $(dir $@)
	{ echo '{ global:'; sed -n 's/^CORIO_EXTERN[^(]*[ *]\(corio_[a-z0-9_]*\)(.*/    \1;/p' $<; echo '  local: *; };'; } >$@
$(SHARED): $(LIB_OBJ) $(BUILD)/corio.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=$(BUILD)/corio.map $(LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS)
	ln -sf $(notdir $@) $(BUILD)/$(SONAME)
	ln -sf $(notdir $@) $(BUILD)/libcorio.so

# modules: one static and one shared library each, linked against the core
$(BUILD)/obj/mod_%.o: modules/%.c include/corio.h include/corio_%.h $(wildcard modules/*.h) Makefile mk/%.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) $($*_CFLAGS) -c $< -o $@
$(BUILD)/libcorio_%.a: $(BUILD)/obj/mod_%.o
	@rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/libcorio_%.so.$(CORIO_VERSION): $(BUILD)/obj/mod_%.o $(SHARED) $(BUILD)/corio_%.map
	$(CC) -shared -Wl,-soname,libcorio_$*.so.$(SOVERSION) -Wl,--version-script=$(BUILD)/corio_$*.map $(LDFLAGS) -o $@ $< \
		-L$(BUILD) -lcorio $($*_LDLIBS) $(LDLIBS)
	ln -sf $(notdir $@) $(BUILD)/libcorio_$*.so.$(SOVERSION)
	ln -sf $(notdir $@) $(BUILD)/libcorio_$*.so
# a program that uses module M links $(BUILD)/libcorio_M.a and M's libraries (MODLINK), and sees CORIO_HAVE_M
$(foreach m,$(MODULES),$(eval $(BUILD)/tests/test_$(m): $(BUILD)/libcorio_$(m).a))
$(foreach m,$(MODULES),$(eval $(BUILD)/tests/test_$(m): MODLINK += $(BUILD)/libcorio_$(m).a $($(m)_LDLIBS)))
$(foreach m,$(MODULES),$(eval $(BUILD)/tests/test_$(m): CFLAGS += $($(m)_CFLAGS)))

$(BUILD)/tests/%: tests/%.c tests/test_main.c tests/test.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< tests/test_main.c -o $@ $(MODLINK) $(STATIC) $(LDFLAGS) $(LDLIBS)
# the compact variant is test_server.c compiled again
$(BUILD)/tests/test_server_compact: tests/test_server.c
$(BUILD)/bench/%: bench/%.c $(STATIC) $(wildcard bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ibench $< -o $@ $(STATIC) $(LDFLAGS) $(LDLIBS)
$(BUILD)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(MODLINK) $(STATIC) $(LDFLAGS) $(LDLIBS)
$(BUILD)/examples/http_server: LDLIBS += -lhttp_parser

# the tour needs the library and itself only; `make` builds everything else
run: $(BUILD)/examples/tour
	$(RUNNER) $(BUILD)/examples/tour

tests: $(TESTS)
examples: $(EXAMPLES)
benches: $(BENCHES)

test: lib $(TESTS) $(EXAMPLES)
	@RUNNER="$(RUNNER)" BUILD="$(BUILD)" tests/run.sh $(TESTS) tests/check_docs.sh tests/check_abi.sh tests/check_man.sh

# The AArch64 build runs every test under qemu-user (Debian: qemu-user gcc-aarch64-linux-gnu).
test-aarch64:
	$(MAKE) test CC=aarch64-linux-gnu-gcc ARCH=aarch64 RUNNER="env CORIO_TEST_SMALL=1 \
		CORIO_TEST_EXEC_WRAPPER=qemu-aarch64 QEMU_LD_PREFIX=/usr/aarch64-linux-gnu qemu-aarch64"

bench: all
	@BUILD=$(BUILD) CC=$(CC) bench/run.sh

# man pages (man 3 corio_spawn..., man 7 corio) from the headers' comments, into $(BUILD)/man for make install;
# the headers are the core's and the built modules' (tests/check_man.sh checks the pages of every header)
HAVE_PYTHON3 := $(shell command -v python3 >/dev/null 2>&1 && echo 1)
MAN_HEADERS = include/corio.h $(MODULES:%=include/corio_%.h)
.PHONY: man
man:
	@rm -rf $(BUILD)/man
	$(if $(HAVE_PYTHON3),python3 tools/mangen.py $(BUILD)/man $(MAN_HEADERS),@echo "corio: man pages skipped: install python3")

# At a release: the ABI baselines tests/check_abi.sh compares later builds with (abi/*.symbols, abi/*.abi), from a
# build with every module (docs/abi.md, "Releasing"). Needs abigail-tools.
.PHONY: abi-dump
abi-dump: lib
	@BUILD="$(BUILD)" sh tests/check_abi.sh --dump

# the API reference, generated from the headers' doc comments (tests/check_docs.sh checks it is up to date)
.PHONY: docs
docs:
	python3 tools/refgen.py docs/reference include/*.h

format:
	clang-format -i include/*.h src/*.c src/*.h tests/*.c tests/*.h bench/*.c examples/*.c $(wildcard modules/*.[ch] fuzz/*.c)

clean:
	rm -rf build

# static analysis: clang-tidy (.clang-tidy) and cppcheck; any finding fails (tools/lint.sh)
.PHONY: lint
lint:
	@tools/lint.sh
