/*
 * udp: datagram headers; see udp.h.
 */
#include "proto/udp.h"

bool udp_parse_frame(const unsigned char *buf, size_t len, uint16_t *request_id) {
    if (len <= UDP_HEADER_LEN)
        return false;
    *request_id = (uint16_t)(buf[0] << 8 | buf[1]);
    /* memcached looks only at the datagram count: one, or the request is dropped */
    return buf[4] == 0 && buf[5] == 1;
}

unsigned udp_datagram_count(size_t len) {
    size_t n = (len + UDP_DATA_MAX - 1) / UDP_DATA_MAX;
    return n > 65535 ? 0 : (unsigned)n;
}

void udp_format_frame(unsigned char *out, uint16_t request_id, uint16_t seq, uint16_t total) {
    out[0] = (unsigned char)(request_id >> 8);
    out[1] = (unsigned char)request_id;
    out[2] = (unsigned char)(seq >> 8);
    out[3] = (unsigned char)seq;
    out[4] = (unsigned char)(total >> 8);
    out[5] = (unsigned char)total;
    out[6] = 0;
    out[7] = 0;
}
