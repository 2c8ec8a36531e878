/*
 * udp: memcached's UDP framing, without I/O.
 *
 * Every datagram starts with 8 bytes in network order: a request id the
 * reply echoes, a sequence number, the number of datagrams in the message,
 * and a reserved zero.  memcached takes only requests that fit one datagram
 * and cuts a reply into datagrams of at most UDP_PAYLOAD_MAX bytes,
 * header included, numbered from 0.
 */
#ifndef LARDER_PROTO_UDP_H
#define LARDER_PROTO_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UDP_HEADER_LEN 8
#define UDP_PAYLOAD_MAX 1400
#define UDP_DATA_MAX (UDP_PAYLOAD_MAX - UDP_HEADER_LEN)
#define UDP_DATAGRAM_MAX 65536 /* largest request datagram read */

/* True when buf holds a request memcached would answer: a header with
 * something after it, in a message of one datagram.  *request_id gets its id. */
bool udp_parse_frame(const unsigned char *buf, size_t len, uint16_t *request_id);

/* How many datagrams a reply of len bytes takes (0 for an empty reply, and
 * 0 when it would need more than 65535). */
unsigned udp_datagram_count(size_t len);

/* Writes the header of datagram `seq` of `total` into out[UDP_HEADER_LEN]. */
void udp_format_frame(unsigned char *out, uint16_t request_id, uint16_t seq, uint16_t total);

#endif
