# mk/fault.mk - the fault-injection test (tests/test_fault.c with the shim tests/fault.c): part of `make test`,
# and alone as `make test-fault`. ASan, TSan and valgrind each replace malloc themselves, so a second replacement
# in the executable either breaks them or is bypassed: those configurations leave the test out.
ifneq ($(SANITIZE)$(TSAN)$(VALGRIND),)
TEST_SKIP += tests/test_fault.c
endif
$(BUILD)/tests/test_fault: tests/fault.c tests/fault.h
$(BUILD)/tests/test_fault: MODLINK += tests/fault.c

.PHONY: test-fault
test-fault: $(BUILD)/tests/test_fault
	@RUNNER="$(RUNNER)" BUILD="$(BUILD)" tests/run.sh $<
