#!/usr/bin/env python3
"""Minimal CQL native-protocol (v4) health check, standard library only.

Usage: cql_ping.py HOST PORT [TIMEOUT_SECONDS]

Sends STARTUP, then `SELECT release_version FROM system.local`, and prints the
release version. Exits 0 when the node answered the query, 1 otherwise (with the
reason on stderr). Used by scripts/stack to decide that Cassandra "really answers".
"""
import socket
import struct
import sys

OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE, OP_QUERY, OP_RESULT = 0x00, 0x01, 0x02, 0x03, 0x07, 0x08
VERSION = 0x04


def frame(stream, opcode, body):
    return struct.pack(">BBhBi", VERSION, 0, stream, opcode, len(body)) + body


def cql_string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by server")
        buf += chunk
    return buf


def recv_frame(sock):
    header = recv_exact(sock, 9)
    _version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", header)
    return opcode, recv_exact(sock, length)


def read_string(body, pos):
    (n,) = struct.unpack_from(">H", body, pos)
    pos += 2
    return body[pos:pos + n].decode(), pos + n


def error_text(body):
    (code,) = struct.unpack_from(">i", body, 0)
    msg, _ = read_string(body, 4)
    return "server error 0x%04x: %s" % (code, msg)


def parse_first_text_cell(body):
    (kind,) = struct.unpack_from(">i", body, 0)
    if kind != 2:
        raise ValueError("unexpected result kind %d" % kind)
    pos = 4
    flags, ncols = struct.unpack_from(">ii", body, pos)
    pos += 8
    if flags & 0x0002:  # has_more_pages: paging state
        (n,) = struct.unpack_from(">i", body, pos)
        pos += 4 + max(n, 0)
    if not flags & 0x0004:  # metadata present
        global_spec = flags & 0x0001
        if global_spec:
            _, pos = read_string(body, pos)
            _, pos = read_string(body, pos)
        for _ in range(ncols):
            if not global_spec:
                _, pos = read_string(body, pos)
                _, pos = read_string(body, pos)
            _, pos = read_string(body, pos)  # column name
            (type_id,) = struct.unpack_from(">H", body, pos)
            pos += 2
            if type_id not in (0x000D, 0x0001):  # varchar/ascii only in this query
                raise ValueError("unexpected column type 0x%04x" % type_id)
    (nrows,) = struct.unpack_from(">i", body, pos)
    pos += 4
    if nrows < 1:
        raise ValueError("system.local returned no row")
    (n,) = struct.unpack_from(">i", body, pos)
    pos += 4
    return body[pos:pos + n].decode()


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            body = struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")
            sock.sendall(frame(1, OP_STARTUP, body))
            opcode, body = recv_frame(sock)
            if opcode == OP_ERROR:
                raise RuntimeError(error_text(body))
            if opcode == OP_AUTHENTICATE:
                raise RuntimeError("server requires authentication")
            if opcode != OP_READY:
                raise RuntimeError("unexpected opcode 0x%02x after STARTUP" % opcode)
            query = b"SELECT release_version FROM system.local"
            body = struct.pack(">i", len(query)) + query + struct.pack(">HB", 0x0001, 0)
            sock.sendall(frame(2, OP_QUERY, body))
            opcode, body = recv_frame(sock)
            if opcode == OP_ERROR:
                raise RuntimeError(error_text(body))
            if opcode != OP_RESULT:
                raise RuntimeError("unexpected opcode 0x%02x after QUERY" % opcode)
            print(parse_first_text_cell(body))
            return 0
    except (OSError, ValueError, RuntimeError, ConnectionError, struct.error) as exc:
        print("CQL %s:%d: %s" % (host, port, exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
