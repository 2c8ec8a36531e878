/*
 * budget: a byte limit shared by threads; see budget.h.
 */
#include "server/budget.h"

void budget_init(struct budget *b, size_t limit) {
    b->limit = limit;
    b->used = 0;
    b->refusals = 0;
}

bool budget_take(struct budget *b, size_t n) {
    size_t used = __atomic_load_n(&b->used, __ATOMIC_RELAXED);
    do {
        if (n > b->limit || used > b->limit - n) {
            __atomic_add_fetch(&b->refusals, 1, __ATOMIC_RELAXED);
            return false;
        }
    } while (!__atomic_compare_exchange_n(&b->used, &used, used + n, true, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return true;
}

void budget_give(struct budget *b, size_t n) { __atomic_sub_fetch(&b->used, n, __ATOMIC_RELAXED); }

size_t budget_used(const struct budget *b) { return __atomic_load_n(&b->used, __ATOMIC_RELAXED); }

uint64_t budget_refusals(const struct budget *b) {
    return __atomic_load_n(&b->refusals, __ATOMIC_RELAXED);
}

bool budget_tight(const struct budget *b) {
    return __atomic_load_n(&b->used, __ATOMIC_RELAXED) > b->limit / 4 * 3;
}
