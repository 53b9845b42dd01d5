# mk/compare.mk - `make bench-compare`: corio against Go, Node.js, Python asyncio and uvloop, Boost.Context, libuv, a
# raw epoll loop and nginx on the same shapes in one run, printed as ratios with the design goals (bench/compare.sh; the
# peers' programs are in bench/compare/). `make bench-charts` redraws the PNG charts docs/img/compare-*.png from
# the last bench-compare run's data (bench/charts.sh --compare); `make bench-compare CMP_CHARTS=1` measures and
# draws in one go.
#   make bench-compare CMP_QUICK=1        small sizes, ~2 min: checks that every peer builds and runs
#   make bench-compare                    the full comparison (1M tasks sleeping 10 s, 5 s per server, 10,000 idle
#                                         connections per idle server; ~12 min)
# Knobs are environment variables (CMP_TASKS, CMP_SECONDS, CMP_PEERS, CMP_SHAPES...): see bench/compare.sh.
.PHONY: bench-compare bench-charts
# only the programs it runs, so a test that does not build at the moment cannot hold the comparison up
CMP_PROGS := $(addprefix $(BUILD)/bench/,bench_switch bench_spawn bench_tasks bench_gather bench_skynet bench_echo_load \
	bench_stream bench_idle) \
	$(BUILD)/examples/echo_server $(if $(filter 1,$(HAVE_HTTP_PARSER)),$(BUILD)/examples/http_server)
bench-compare: $(CMP_PROGS)
	@BUILD=$(BUILD) CC=$(CC) bench/compare.sh
bench-charts:
	@bench/charts.sh --compare $(BUILD)/bench/compare docs/img
