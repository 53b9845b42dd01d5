# curl.mk - the optional HTTP(S) client module (modules/curl.c, include/corio_curl.h) on libcurl's multi-socket
# interface; built when libcurl's headers and library are present (Debian: libcurl4-openssl-dev).
ALL_MODULES += curl
ifeq ($(call have,curl/curl.h,curl),1)
MODULES += curl
curl_LDLIBS := -lcurl
else
$(info corio: HTTP client module (corio_curl) skipped: install libcurl4-openssl-dev)
endif
