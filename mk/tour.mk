# mk/tour.mk - the demo (examples/tour.c, `make run`) shows the optional modules that were built: reading from a
# database (SQLite, or PostgreSQL with CORIO_PG=postgresql://...) and making API calls (the HTTP client).
# Read after the modules' fragments (mk/*.mk in order), so MODULES is complete here.
TOUR_MODULES := $(filter curl sqlite pg,$(MODULES))
$(BUILD)/examples/tour: $(TOUR_MODULES:%=$(BUILD)/libcorio_%.a)
$(BUILD)/examples/tour: MODLINK += $(foreach m,$(TOUR_MODULES),$(BUILD)/libcorio_$(m).a $($(m)_LDLIBS))
$(BUILD)/examples/tour: CFLAGS += $(foreach m,$(TOUR_MODULES),$($(m)_CFLAGS)) \
	$(if $(filter curl,$(TOUR_MODULES)),-DCORIO_HAVE_CURL) $(if $(filter sqlite,$(TOUR_MODULES)),-DCORIO_HAVE_SQLITE) \
	$(if $(filter pg,$(TOUR_MODULES)),-DCORIO_HAVE_PG)
