# tls.mk - the TLS module (modules/tls.c, include/corio_tls.h) on OpenSSL; Debian: libssl-dev (and the openssl
# command, which tests/test_tls.c uses to make certificates and to play the peer).
ALL_MODULES += tls
ifeq ($(call have,openssl/ssl.h,ssl),1)
MODULES += tls
tls_LDLIBS := -lssl -lcrypto
else
$(info corio: TLS module (corio_tls) skipped: install libssl-dev)
endif
