#!/usr/bin/env python3
"""client.py - real (non-corio) clients that tests/test_server.c and tests/test_http.c start as child processes.

  client.py echo PORT CONNS MSGS    CONNS threads each send MSGS messages of varied sizes to an echo server and
                                    check every byte comes back; prints "echo ok BYTES"
  client.py pipeline PORT           sends three HTTP requests in one write, reads three responses in order;
                                    prints "STATUS LENGTH BODY" per response
  client.py hold PORT CONNS SECS    opens CONNS connections and holds them SECS seconds without sending; prints
                                    "hold opened N closed_by_server M" (a server out of descriptors may shed them)
Exits 0 on success, 1 with a message on stderr otherwise. Every socket operation has a timeout.
"""
import socket
import sys
import threading
import time

TIMEOUT = 10.0


def recv_exactly(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def echo(port, conns, msgs):
    errors = []
    total = [0]
    lock = threading.Lock()

    def one(k):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
                for i in range(msgs):
                    size = 1 + (k * 7919 + i * 104729) % 70000
                    data = bytes((k + i + j) % 251 for j in range(size))
                    s.sendall(data)
                    back = recv_exactly(s, size)
                    if back != data:
                        raise ValueError("conn %d msg %d: echo differs" % (k, i))
                    with lock:
                        total[0] += size
                s.shutdown(socket.SHUT_WR)
                if s.recv(1) != b"":
                    raise ValueError("conn %d: data after the echo" % k)
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            with lock:
                errors.append("conn %d: %r" % (k, e))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.stderr.write("\n".join(errors) + "\n")
        return 1
    print("echo ok %d" % total[0])
    return 0


def read_response(f):
    """One HTTP/1.1 response with a Content-Length body, from a buffered socket file."""
    status = f.readline()
    if not status:
        raise EOFError("closed before a response")
    code = int(status.split()[1])
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return code, f.read(length)


def pipeline(port):
    reqs = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(reqs)
        f = s.makefile("rb")
        for _ in range(3):
            code, body = read_response(f)
            print("%d %d %s" % (code, len(body), body.decode().strip()))
        if f.read(1) != b"":
            raise ValueError("the connection stayed open after Connection: close")
    return 0


def hold(port, conns, secs):
    socks = []
    for _ in range(conns):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        except OSError:
            pass
    time.sleep(secs)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print("hold opened %d closed_by_server %d" % (len(socks), closed))
    return 0


def main(argv):
    try:
        if argv[1] == "echo":
            return echo(int(argv[2]), int(argv[3]), int(argv[4]))
        if argv[1] == "pipeline":
            return pipeline(int(argv[2]))
        if argv[1] == "hold":
            return hold(int(argv[2]), int(argv[3]), float(argv[4]))
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("client.py: %r\n" % (e,))
        return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
