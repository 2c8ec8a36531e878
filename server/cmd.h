/*
 * cmd: executes parsed requests against the store and formats the replies
 * into the connection's output buffer.  The link between proto (bytes to
 * requests) and storage (requests to items).
 */
#ifndef LARDER_CMD_H
#define LARDER_CMD_H

#include "proto/proto.h"
#include "server/conn.h"

/* Runs one command line.  A storage command leaves the connection in
 * CONN_NREAD (or CONN_SWALLOW) to receive its data block. */
void cmd_execute(struct conn *c, struct proto_request *req);

/* The data block of a storage command has arrived, followed by crlf[2]. */
void cmd_complete_nread(struct conn *c);

#endif
