/* fuzz.h - what the libFuzzer targets in fuzz/ share: an invariant check that names the broken invariant and aborts
 * (libFuzzer then saves the input), and a reader that takes the fuzz input apart byte by byte. */
#ifndef CORIO_FUZZ_H
#define CORIO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                                          \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FUZZ CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* The input, consumed from the front; reads past its end give 0, so every input is a valid script. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t left;
} fuzz_in;

static inline uint8_t fuzz_byte(fuzz_in *in) {
    if (in->left == 0) return 0;
    in->left--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_in *in) {
    uint16_t hi = fuzz_byte(in);
    return (uint16_t)(hi << 8 | fuzz_byte(in));
}

#endif /* CORIO_FUZZ_H */
