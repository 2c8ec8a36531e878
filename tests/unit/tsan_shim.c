/*
 * tsan_shim: lets Criterion start under ThreadSanitizer (make SAN=thread unit).
 *
 * Criterion (through BoxFort) maps an "inheritable arena" that its test
 * workers re-map at the same address.  It picks that address with rand_r():
 * a random 16 MB step in [0x200000000000, 0x7f0000000000), checking that the
 * pages are free, and gives up after a few tries with "Could not initialize
 * inheritable arena: Resource temporarily unavailable"
 * (https://github.com/Snaipe/Criterion/issues/274).  Under TSan almost all of
 * that range is TSan's own shadow or reserved memory; only the "mid app"
 * range [0x550000000000, 0x568000000000) can be mapped, so it nearly always
 * fails.
 *
 * The executable's rand_r() takes precedence over libc's for libcriterion, so
 * in TSan builds only we hand BoxFort offsets inside [0x560000000000,
 * 0x568000000000), above where PIE binaries load.  Nothing in Larder calls
 * rand_r.  Without -fsanitize=thread this file compiles to nothing.
 *
 * A race report must also fail the test: Criterion's workers leave with
 * _Exit(), which skips TSan's exit-code check, so halt_on_error turns the
 * first report into a crash that Criterion counts.
 */
#if defined(__SANITIZE_THREAD__)

int rand_r(unsigned *seed);

int rand_r(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    /* (0x560000000000 - 0x200000000000) >> 24 = 0x360000; 0x8000 steps of
     * 16 MB stay below 0x568000000000. */
    return (int)(0x360000u + ((*seed >> 8) & 0x7fffu));
}

/* Read by the TSan runtime at start; TSAN_OPTIONS still overrides it. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "halt_on_error=1"; }

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int tsan_shim_unused;

#endif
