/* test_server_compact.c - every server test of test_server.c again with the handlers run as compact tasks
 * (corio_server_opts.compact), the echo handler written the lean way (a stream's peek and consume): slowloris,
 * resets, running out of descriptors, a thousand clients, stop and cancellation hold for them too. */
#define SERVER_COMPACT 1
#include "test_server.c" // NOLINT(bugprone-suspicious-include): the same tests, compiled again
