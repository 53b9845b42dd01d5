# install.mk - `make install` and `make uninstall`: the headers, libcorio.a, libcorio.so with its SONAME links,
# the built modules' libraries and headers, pkg-config files (corio.pc, corio-NAME.pc), a CMake package
# (lib/cmake/corio: corio::corio, corio::corio_static, corio::corio_shared, corio::NAME) and the man pages
# (share/man/man3, man7; made by tools/mangen.py, so skipped without python3) under $(DESTDIR)$(PREFIX).
#   make install PREFIX=$HOME/.local          (default /usr/local; DESTDIR=/tmp/stage for packaging)
#   make uninstall PREFIX=$HOME/.local        removes exactly the files install puts there, for the same modules
# The .pc and CMake files are made from templates in tools/ (*.in, @VAR@ replaced by sed). They hand users the
# Makefile's STACK_CLASH (-fstack-clash-protection where $(CC) has it); the modules' files get it through corio's.
# This file is included before the Makefile has all its variables (MODULES grows in later mk/*.mk, and
# MODULE_SHARED comes after), so everything here is a recursive variable or lives in a recipe.

install_saved_goal := $(.DEFAULT_GOAL)

PREFIX ?= /usr/local
DESTDIR ?=
INSTALL ?= install
LIBDIR = $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
PKGCONFIGDIR = $(LIBDIR)/pkgconfig
CMAKEDIR = $(LIBDIR)/cmake/corio
MANDIR = $(PREFIX)/share/man
# the pages `make man` writes for these headers (man3/NAME.3 ..., man7/corio.7)
INSTALL_MAN = $(if $(HAVE_PYTHON3),$(shell python3 tools/mangen.py --list $(MAN_HEADERS)))

# what the static library needs besides libc: liburing through its .pc when there is one
INSTALL_URING_PC = $(if $(filter 1,$(HAVE_URING)),$(shell pkg-config --exists liburing 2>/dev/null && echo liburing))
INSTALL_URING_LIB = $(if $(filter 1,$(HAVE_URING)),$(if $(INSTALL_URING_PC),,-luring))

# A module's -lX flags: those with a pkg-config file (libX.pc or X.pc) go to its Requires, the rest to its Libs
# (public: the module headers hand out those libraries' types). $(call install_pc_requires,-lssl -lcrypto) -> libssl libcrypto
install_pc_of = $(shell pkg-config --exists lib$(1) 2>/dev/null && echo lib$(1) || \
	{ pkg-config --exists $(1) 2>/dev/null && echo $(1); })
install_pc_requires = $(strip $(foreach l,$(patsubst -l%,%,$(filter -l%,$(1))),$(call install_pc_of,$(l))))
install_pc_libs = $(strip $(foreach f,$(1),$(if $(and $(filter -l%,$(f)),$(call install_pc_of,$(patsubst -l%,%,$(f)))),,$(f))))

install_empty :=
install_semi = $(subst $(install_empty) $(install_empty),;,$(strip $(1)))
INSTALL_SED = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@VERSION@|$(CORIO_VERSION)|g' -e 's|@SOVERSION@|$(SOVERSION)|g' -e 's|@SHARED_NAME@|$(notdir $(SHARED))|g' \
	-e 's|@STACK_CLASH@|$(STACK_CLASH)|g' \
	-e 's|@VERSION_MAJOR@|$(word 1,$(subst ., ,$(CORIO_VERSION)))|g' \
	-e 's|@VERSION_MINOR@|$(word 2,$(subst ., ,$(CORIO_VERSION)))|g'

# every file install creates, relative to $(DESTDIR): uninstall removes these and nothing else
INSTALL_FILES = $(INCLUDEDIR)/corio.h $(MODULES:%=$(INCLUDEDIR)/corio_%.h) \
	$(LIBDIR)/libcorio.a $(LIBDIR)/$(notdir $(SHARED)) $(LIBDIR)/$(SONAME) $(LIBDIR)/libcorio.so \
	$(foreach m,$(MODULES),$(LIBDIR)/libcorio_$(m).a $(LIBDIR)/libcorio_$(m).so.$(CORIO_VERSION) \
		$(LIBDIR)/libcorio_$(m).so.$(SOVERSION) $(LIBDIR)/libcorio_$(m).so) \
	$(PKGCONFIGDIR)/corio.pc $(MODULES:%=$(PKGCONFIGDIR)/corio-%.pc) \
	$(CMAKEDIR)/corioConfig.cmake $(CMAKEDIR)/corioConfigVersion.cmake $(MODULES:%=$(CMAKEDIR)/corio-%-targets.cmake) \
	$(addprefix $(MANDIR)/,$(INSTALL_MAN))

.PHONY: install uninstall
install: lib man
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR)
	$(if $(INSTALL_MAN),$(INSTALL) -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 && \
		$(INSTALL) -m 644 $(BUILD)/man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/ && \
		$(INSTALL) -m 644 $(BUILD)/man/man7/*.7 $(DESTDIR)$(MANDIR)/man7/)
	$(INSTALL) -m 644 include/corio.h $(MODULES:%=include/corio_%.h) $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(STATIC) $(MODULE_STATIC) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(SHARED) $(MODULE_SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHARED)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcorio.so
	$(foreach m,$(MODULES),ln -sf libcorio_$(m).so.$(CORIO_VERSION) $(DESTDIR)$(LIBDIR)/libcorio_$(m).so.$(SOVERSION) && \
		ln -sf libcorio_$(m).so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libcorio_$(m).so &&) true
	$(INSTALL_SED) -e 's|@REQUIRES_PRIVATE@|$(INSTALL_URING_PC)|' -e 's|@LIBS_PRIVATE@|$(strip $(INSTALL_URING_LIB) -lpthread)|' \
		tools/corio.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/corio.pc
	$(foreach m,$(MODULES),$(INSTALL_SED) -e 's|@NAME@|$(m)|g' \
		-e 's|@REQUIRES@|$(call install_pc_requires,$($(m)_LDLIBS))|' \
		-e 's|@LIBS@|$(call install_pc_libs,$($(m)_LDLIBS))|' \
		tools/corio-module.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/corio-$(m).pc &&) true
	$(INSTALL_SED) -e 's|@STATIC_LIBS@|$(if $(filter 1,$(HAVE_URING)),uring)|' \
		tools/corioConfig.cmake.in >$(DESTDIR)$(CMAKEDIR)/corioConfig.cmake
	$(INSTALL_SED) tools/corioConfigVersion.cmake.in >$(DESTDIR)$(CMAKEDIR)/corioConfigVersion.cmake
	$(foreach m,$(MODULES),$(INSTALL_SED) -e 's|@NAME@|$(m)|g' \
		-e 's|@STATIC_LIBS@|$(call install_semi,$(patsubst -l%,%,$(filter -l%,$($(m)_LDLIBS))))|' \
		tools/corio-module-targets.cmake.in >$(DESTDIR)$(CMAKEDIR)/corio-$(m)-targets.cmake &&) true

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALL_FILES))
	rmdir $(DESTDIR)$(CMAKEDIR) 2>/dev/null || true

.DEFAULT_GOAL := $(install_saved_goal)
