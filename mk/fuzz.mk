# fuzz.mk - `make fuzz [SECONDS=N]`: libFuzzer targets (fuzz/fuzz_*.c) built with clang whatever CC is, the library
# compiled into them with -fsanitize=fuzzer-no-link,address,undefined in its own build directory; each target runs
# N seconds (default 60) from its corpus in fuzz/corpus/<target>/ and the run fails if any target crashes, leaks or
# times out. Only `make fuzz` (and `make fuzz-build`) touch this: `make`, `make test` never build the fuzzers.
#   make fuzz SECONDS=30          the CI step
#   make fuzz FUZZ_TARGETS=fuzz_stream SECONDS=300 FUZZ_ARGS=-jobs=2   one target, longer, extra libFuzzer flags
# New inputs found in a run go to $(FUZZ_BUILD)/new/<target>/, not into the committed corpus; fold them in with
# fuzz/run.sh --merge (which minimises with -merge=1).

# the rules below must not become make's default goal (this file is included before `all`)
fuzz_saved_goal := $(.DEFAULT_GOAL)

FUZZ_CC ?= clang
FUZZ_ARCH := $(shell uname -m)
# inside the caller's BUILD when one is given (team builds), else build/fuzz-<arch>
ifeq ($(origin BUILD),command line)
FUZZ_BUILD ?= $(BUILD)/fuzz-$(FUZZ_ARCH)
else
FUZZ_BUILD ?= build/fuzz-$(FUZZ_ARCH)
endif
SECONDS ?= 60
FUZZ_TARGETS ?= $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -g -O1 \
	-fno-omit-frame-pointer -Iinclude -Isrc $(FUZZ_SAN)
FUZZ_LIB_OBJ := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(wildcard src/*.c)) $(FUZZ_BUILD)/obj/arch_$(FUZZ_ARCH).o

.PHONY: fuzz fuzz-build fuzz-check
fuzz-check:
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' | \
		$(FUZZ_CC) -x c - -fsanitize=fuzzer,address,undefined -o /dev/null 2>/dev/null || \
		{ echo "make fuzz: $(FUZZ_CC) cannot link libFuzzer (-fsanitize=fuzzer): install clang and" \
			"libclang-rt-dev (Debian 12: clang-14 and libclang-rt-14-dev)" >&2; exit 1; }

$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard src/*.h) include/corio.h mk/fuzz.mk | fuzz-check
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -fvisibility=hidden -c $< -o $@
$(FUZZ_BUILD)/obj/arch_%.o: src/arch/%.S | fuzz-check
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_BUILD)/libcorio.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^
# the HTTP target compiles in examples/http_server.c
$(FUZZ_BUILD)/fuzz_http: examples/http_server.c
$(FUZZ_BUILD)/fuzz_http: FUZZ_LDLIBS := -lhttp_parser
$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_BUILD)/libcorio.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< -o $@ $(FUZZ_BUILD)/libcorio.a $(FUZZ_LDLIBS) -lpthread

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
fuzz: fuzz-build
	@FUZZ_BUILD="$(FUZZ_BUILD)" SECONDS_="$(SECONDS)" FUZZ_ARGS="$(FUZZ_ARGS)" fuzz/run.sh $(FUZZ_TARGETS)

.DEFAULT_GOAL := $(fuzz_saved_goal)
