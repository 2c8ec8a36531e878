/*
 * budget: a byte limit shared by threads, for memory that is not items.
 *
 * Items live within -m (storage/slab.c).  Everything a client can make the
 * server hold besides them is counted here, so that no client, and no
 * number of clients, can grow the process past -m plus a known figure:
 *
 *   - connection buffers past their first CONN_BUF_INITIAL bytes: a read
 *     buffer holding an unfinished line or a value that waits for memory,
 *     output queued for a client that does not read (replies, dumps);
 *   - item memory of values still arriving (server.uploads): a store whose
 *     value is not all in takes its item from this share of -m, or waits
 *     in the read buffer, counted above, until the whole value is there.
 *
 * What stays outside: the first buffer of each connection, at most
 * 2 * CONN_BUF_INITIAL per connection, so bounded by -c.
 *
 * budget_take() refuses what would pass the limit (and counts it); the
 * callers then pause the client (back-pressure) or hang up on the one that
 * asked, never on others.  All fields are atomics.
 */
#ifndef LARDER_BUDGET_H
#define LARDER_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct budget {
    size_t limit;
    size_t used;
    uint64_t refusals; /* takes refused */
};

void budget_init(struct budget *b, size_t limit);
/* Takes n bytes if they fit under the limit; false (and counted) if not. */
bool budget_take(struct budget *b, size_t n);
void budget_give(struct budget *b, size_t n);
size_t budget_used(const struct budget *b);
uint64_t budget_refusals(const struct budget *b);
/* True once the budget is more than 3/4 used: time to stop adding output
 * for clients that already have some queued. */
bool budget_tight(const struct budget *b);

#endif
