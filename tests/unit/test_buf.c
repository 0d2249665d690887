/*
 * ks_buf_* and ks_arena_* (src/common/buf.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ks/buf.h"

/* ---- ks_buf ----------------------------------------------------------------------- */

static void buf_init_is_empty(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_true(b.max == SIZE_MAX); /* 0 means no cap */
    ks_buf_init(&b, 100);
    assert_int_equal(b.max, 100);
    ks_buf_free(&b);
}

static void buf_append_grows_and_keeps_content(void **state)
{
    ks_buf_t b;
    char chunk[100];
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.cap, 256); /* first allocation is 256 bytes */
    for (int i = 0; i < 100; ++i)
        chunk[i] = (char)('a' + i % 26);
    for (int k = 0; k < 10; ++k)
        assert_int_equal(ks_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 1003);
    assert_int_equal(b.cap, 1024); /* doubled 256 -> 512 -> 1024 */
    assert_memory_equal(b.base, "abc", 3);
    for (int k = 0; k < 10; ++k)
        assert_memory_equal(b.base + 3 + 100 * k, chunk, 100);
    ks_buf_free(&b);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void buf_append_zero_bytes_allocates_nothing(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_append(&b, NULL, 0), 0);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    assert_int_equal(ks_buf_reserve(&b, 0), 0);
    assert_null(b.base);
    ks_buf_free(&b);
}

static void buf_reserve_large_jump(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_reserve(&b, 100000), 0);
    assert_true(b.cap >= 100000);
    assert_int_equal(b.len, 0);
    /* the whole reservation is writable (ASan checks) */
    memset(b.base, 'x', 100000);
    ks_buf_free(&b);
}

static void buf_putc_and_puts(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    for (int i = 0; i < 600; ++i)
        assert_int_equal(ks_buf_putc(&b, (char)('0' + i % 10)), 0);
    assert_int_equal(b.len, 600);
    assert_int_equal(b.base[0], '0');
    assert_int_equal(b.base[599], '9');
    assert_int_equal(ks_buf_puts(&b, "end"), 0);
    assert_int_equal(b.len, 603);
    assert_memory_equal(b.base + 600, "end", 3);
    ks_buf_free(&b);
}

static void buf_reset_keeps_memory(void **state)
{
    ks_buf_t b;
    char *base;
    size_t cap;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_puts(&b, "hello"), 0);
    base = b.base;
    cap = b.cap;
    ks_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.base, base);
    assert_int_equal(b.cap, cap);
    assert_int_equal(ks_buf_puts(&b, "xy"), 0);
    assert_memory_equal(b.base, "xy", 2);
    ks_buf_free(&b);
}

static void buf_cap_exact_fit_then_too_big(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 10);
    assert_int_equal(ks_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10);
    assert_true(b.cap <= 10); /* growth is clamped to the cap */
    assert_int_equal(ks_buf_putc(&b, 'x'), KS_ETOOBIG);
    assert_int_equal(ks_buf_append(&b, "x", 1), KS_ETOOBIG);
    assert_int_equal(b.len, 10); /* unchanged by the failures */
    assert_memory_equal(b.base, "0123456789", 10);
    ks_buf_free(&b);
}

static void buf_cap_rejects_single_oversized_append(void **state)
{
    ks_buf_t b;
    char big[300];
    (void)state;
    memset(big, 'z', sizeof(big));
    ks_buf_init(&b, 299);
    assert_int_equal(ks_buf_append(&b, big, 300), KS_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(ks_buf_append(&b, big, 299), 0);
    assert_int_equal(b.len, 299);
    assert_int_equal(b.cap, 299);
    ks_buf_free(&b);
}

static void buf_reserve_overflow_is_too_big(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_append(&b, "ab", 2), 0);
    /* len + extra would wrap around SIZE_MAX */
    assert_int_equal(ks_buf_reserve(&b, SIZE_MAX - 1), KS_ETOOBIG);
    assert_int_equal(ks_buf_reserve(&b, SIZE_MAX), KS_ETOOBIG);
    assert_int_equal(b.len, 2);
    ks_buf_free(&b);
}

static void buf_printf_formats_and_appends(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 0);
    /* room == 0 path (nothing allocated yet) */
    assert_int_equal(ks_buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.base, "42-x", 4);
    /* fits in the existing room */
    assert_int_equal(ks_buf_printf(&b, "|%05.1f|", 3.25), 0);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.base, "42-x|003.2|", 11);
    ks_buf_free(&b);
}

static void buf_printf_grows_past_room(void **state)
{
    ks_buf_t b;
    char expect[1001];
    (void)state;
    ks_buf_init(&b, 0);
    assert_int_equal(ks_buf_puts(&b, "ab"), 0); /* cap 256, room 254 */
    memset(expect, 'q', 1000);
    expect[1000] = '\0';
    assert_int_equal(ks_buf_printf(&b, "%s", expect), 0);
    assert_int_equal(b.len, 1002);
    assert_memory_equal(b.base, "ab", 2);
    assert_memory_equal(b.base + 2, expect, 1000);
    /* an empty format appends nothing */
    assert_int_equal(ks_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 1002);
    ks_buf_free(&b);
}

static void buf_printf_over_cap_is_too_big(void **state)
{
    ks_buf_t b;
    (void)state;
    ks_buf_init(&b, 8);
    assert_int_equal(ks_buf_printf(&b, "%s", "0123456789"), KS_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(ks_buf_printf(&b, "%d", 1234), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.base, "1234", 4);
    ks_buf_free(&b);
}

/*
 * Writing exactly up to the cap is not "over the cap": append allows it, and
 * printf should too (its NUL terminator is not part of the content).
 */
static void buf_printf_exactly_at_cap(void **state)
{
    ks_buf_t b;
    int r;
    size_t len;
    (void)state;
    ks_buf_init(&b, 5);
    r = ks_buf_printf(&b, "%s", "abcde");
    len = b.len;
    if (r == 0)
        assert_memory_equal(b.base, "abcde", 5);
    ks_buf_free(&b);
    assert_int_equal(r, 0);
    assert_int_equal(len, 5);
}

/* ---- ks_arena ----------------------------------------------------------------------- */

static void arena_alignment_16(void **state)
{
    ks_arena_t a;
    static const size_t sizes[] = {1, 3, 7, 15, 16, 17, 31, 33, 100, 1000, 4095, 65535, 70000};
    (void)state;
    ks_arena_init(&a, 0);
    for (int round = 0; round < 3; ++round)
        for (size_t i = 0; i < KS_ARRAY_SIZE(sizes); ++i) {
            char *p = ks_arena_alloc(&a, sizes[i]);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % 16, 0);
            memset(p, 0xab, sizes[i]);
        }
    ks_arena_destroy(&a);
}

static void arena_allocations_do_not_overlap(void **state)
{
    ks_arena_t a;
    unsigned char *p[200];
    (void)state;
    ks_arena_init(&a, 0);
    for (int i = 0; i < 200; ++i) {
        p[i] = ks_arena_alloc(&a, (size_t)(i * 37 % 900) + 1);
        assert_non_null(p[i]);
        memset(p[i], i, (size_t)(i * 37 % 900) + 1);
    }
    for (int i = 0; i < 200; ++i)
        for (size_t k = 0; k < (size_t)(i * 37 % 900) + 1; ++k)
            assert_int_equal(p[i][k], (unsigned char)i);
    ks_arena_destroy(&a);
}

static void arena_consecutive_small_allocs_bump(void **state)
{
    ks_arena_t a;
    char *p, *q, *r;
    (void)state;
    ks_arena_init(&a, 0);
    p = ks_arena_alloc(&a, 1);
    q = ks_arena_alloc(&a, 17);
    r = ks_arena_alloc(&a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_non_null(r);
    /* sizes round up to 16; zero still takes a slot */
    assert_ptr_equal(q, p + 16);
    assert_ptr_equal(r, q + 32);
    assert_int_equal(a.used, 16 + 32 + 16);
    ks_arena_destroy(&a);
    assert_null(a.blocks);
    assert_int_equal(a.used, 0);
}

static void arena_reset_reuses_same_memory(void **state)
{
    ks_arena_t a;
    char *p1, *p2;
    (void)state;
    ks_arena_init(&a, 0);
    p1 = ks_arena_alloc(&a, 100);
    assert_non_null(p1);
    memset(p1, 1, 100);
    ks_arena_reset(&a);
    assert_int_equal(a.used, 0);
    p2 = ks_arena_alloc(&a, 100);
    assert_ptr_equal(p1, p2);
    ks_arena_destroy(&a);
}

static void arena_reset_reuses_every_kept_block(void **state)
{
    ks_arena_t a;
    char *before[3], *after[3];
    (void)state;
    ks_arena_init(&a, 0);
    /* 60000 bytes each: one 64 KiB block per allocation */
    for (int i = 0; i < 3; ++i) {
        before[i] = ks_arena_alloc(&a, 60000);
        assert_non_null(before[i]);
    }
    assert_true(before[0] != before[1] && before[1] != before[2] && before[0] != before[2]);
    ks_arena_reset(&a);
    for (int i = 0; i < 3; ++i) {
        int found = 0;
        after[i] = ks_arena_alloc(&a, 60000);
        assert_non_null(after[i]);
        memset(after[i], 0x5a, 60000);
        for (int k = 0; k < 3; ++k)
            found += after[i] == before[k];
        assert_int_equal(found, 1); /* no new block: one of the old ones */
    }
    assert_true(after[0] != after[1] && after[1] != after[2] && after[0] != after[2]);
    ks_arena_destroy(&a);
}

static void arena_cap_returns_null(void **state)
{
    ks_arena_t a;
    (void)state;
    ks_arena_init(&a, 64);
    assert_non_null(ks_arena_alloc(&a, 32));
    assert_non_null(ks_arena_alloc(&a, 17)); /* rounds to 32: used == 64 */
    assert_int_equal(a.used, 64);
    assert_null(ks_arena_alloc(&a, 1));
    assert_null(ks_arena_alloc(&a, 0));
    assert_int_equal(a.used, 64);
    /* the cap counts since the last reset */
    ks_arena_reset(&a);
    assert_non_null(ks_arena_alloc(&a, 64));
    assert_null(ks_arena_alloc(&a, 1));
    ks_arena_destroy(&a);
}

static void arena_cap_single_request_over(void **state)
{
    ks_arena_t a;
    (void)state;
    ks_arena_init(&a, 1000);
    assert_null(ks_arena_alloc(&a, 1001));
    assert_null(ks_arena_alloc(&a, SIZE_MAX - 100)); /* must not wrap when rounding */
    assert_int_equal(a.used, 0);
    assert_non_null(ks_arena_alloc(&a, 992));
    ks_arena_destroy(&a);
}

/*
 * A request within 15 bytes of SIZE_MAX: rounding (n + 15) & ~15 wraps to 0,
 * which then becomes 16 -- the arena must fail, not hand out 16 bytes.
 */
static void arena_huge_request_must_not_wrap(void **state)
{
    ks_arena_t a;
    void *p;
    (void)state;
    ks_arena_init(&a, 0);
    p = ks_arena_alloc(&a, SIZE_MAX - 3);
    ks_arena_destroy(&a); /* before asserting: a failure must not leak */
    assert_null(p);
}

static void arena_large_allocs(void **state)
{
    ks_arena_t a;
    char *small1, *big, *small2, *big2;
    (void)state;
    ks_arena_init(&a, 0);
    small1 = ks_arena_alloc(&a, 10);
    big = ks_arena_alloc(&a, 1 << 20); /* larger than a block */
    small2 = ks_arena_alloc(&a, 10);
    assert_non_null(small1);
    assert_non_null(big);
    assert_non_null(small2);
    assert_int_equal((uintptr_t)big % 16, 0);
    memset(big, 0x11, 1 << 20);
    memset(small1, 0x22, 10);
    memset(small2, 0x33, 10);
    assert_int_equal((unsigned char)big[0], 0x11);
    assert_int_equal((unsigned char)big[(1 << 20) - 1], 0x11);
    assert_int_equal(a.used, 16 + (1 << 20) + 16);
    /* a block over the kept working set is given back on reset, then works again */
    big2 = ks_arena_alloc(&a, 8u << 20);
    assert_non_null(big2);
    memset(big2, 0x44, 8u << 20);
    ks_arena_reset(&a);
    big2 = ks_arena_alloc(&a, 8u << 20);
    assert_non_null(big2);
    memset(big2, 0x55, 8u << 20);
    ks_arena_destroy(&a);
}

static void arena_many_resets_stay_bounded(void **state)
{
    ks_arena_t a;
    (void)state;
    ks_arena_init(&a, 0);
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 20; ++i) {
            char *p = ks_arena_alloc(&a, (size_t)(1000 + round * 13 + i * 101));
            assert_non_null(p);
            memset(p, round, (size_t)(1000 + round * 13 + i * 101));
        }
        ks_arena_reset(&a);
        assert_int_equal(a.used, 0);
    }
    ks_arena_destroy(&a);
}

static void arena_strndup_copies_and_terminates(void **state)
{
    ks_arena_t a;
    char *s;
    (void)state;
    ks_arena_init(&a, 0);
    s = ks_arena_strndup(&a, "hello world", 5);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    s = ks_arena_strndup(&a, "", 0);
    assert_non_null(s);
    assert_string_equal(s, "");
    /* copies exactly n bytes, embedded NULs included */
    s = ks_arena_strndup(&a, "a\0b", 3);
    assert_non_null(s);
    assert_memory_equal(s, "a\0b\0", 4);
    ks_arena_destroy(&a);
}

static void arena_strndup_over_cap(void **state)
{
    ks_arena_t a;
    (void)state;
    ks_arena_init(&a, 16);
    assert_null(ks_arena_strndup(&a, "0123456789abcdef", 16)); /* 17 bytes with the NUL */
    assert_non_null(ks_arena_strndup(&a, "0123456789abcde", 15));
    ks_arena_destroy(&a);
}

static void arena_destroy_then_reuse(void **state)
{
    ks_arena_t a;
    (void)state;
    ks_arena_init(&a, 0);
    assert_non_null(ks_arena_alloc(&a, 100));
    ks_arena_destroy(&a);
    assert_null(a.head);
    assert_null(a.blocks);
    assert_non_null(ks_arena_alloc(&a, 100));
    ks_arena_destroy(&a);
    /* destroying an empty arena is fine */
    ks_arena_destroy(&a);
    ks_arena_reset(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_init_is_empty),
        cmocka_unit_test(buf_append_grows_and_keeps_content),
        cmocka_unit_test(buf_append_zero_bytes_allocates_nothing),
        cmocka_unit_test(buf_reserve_large_jump),
        cmocka_unit_test(buf_putc_and_puts),
        cmocka_unit_test(buf_reset_keeps_memory),
        cmocka_unit_test(buf_cap_exact_fit_then_too_big),
        cmocka_unit_test(buf_cap_rejects_single_oversized_append),
        cmocka_unit_test(buf_reserve_overflow_is_too_big),
        cmocka_unit_test(buf_printf_formats_and_appends),
        cmocka_unit_test(buf_printf_grows_past_room),
        cmocka_unit_test(buf_printf_over_cap_is_too_big),
        cmocka_unit_test(buf_printf_exactly_at_cap),
        cmocka_unit_test(arena_alignment_16),
        cmocka_unit_test(arena_allocations_do_not_overlap),
        cmocka_unit_test(arena_consecutive_small_allocs_bump),
        cmocka_unit_test(arena_reset_reuses_same_memory),
        cmocka_unit_test(arena_reset_reuses_every_kept_block),
        cmocka_unit_test(arena_cap_returns_null),
        cmocka_unit_test(arena_cap_single_request_over),
        cmocka_unit_test(arena_huge_request_must_not_wrap),
        cmocka_unit_test(arena_large_allocs),
        cmocka_unit_test(arena_many_resets_stay_bounded),
        cmocka_unit_test(arena_strndup_copies_and_terminates),
        cmocka_unit_test(arena_strndup_over_cap),
        cmocka_unit_test(arena_destroy_then_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
