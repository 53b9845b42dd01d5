"""peer.py - the Python side of bench/compare.sh, on asyncio's default loop or on uvloop (--uvloop): the benchmark
shapes corio is compared on, written the plain asyncio way (create_task + await, asyncio.sleep + gather, Protocol
servers, which are asyncio's fast path rather than streams). Every figure is a `RESULT <shape>_<loop> <value>
<unit>` line, <loop> being asyncio or uvloop.
  usage: python3 peer.py [--uvloop] spawn N | sleep SHAPE N SECS | echo PORT | http PORT   (as peer.go)"""
import asyncio
import sys
import time


def fail(msg):
    sys.stdout.flush()
    sys.stderr.write(f"peer.py: FAILED: {msg}\n")
    sys.exit(1)


def count(s):
    try:
        n = int(s)
    except ValueError:
        n = 0
    if n <= 0:
        fail(f'expected a positive integer, got "{s}"')
    return n


ran = 0


async def empty():
    global ran
    ran += 1
    return 0


async def spawn_await(n):
    ran0 = ran
    t0 = time.perf_counter_ns()
    for _ in range(n):
        await asyncio.create_task(empty())
    t1 = time.perf_counter_ns()
    if ran - ran0 != n:
        fail(f"{ran - ran0} tasks ran, expected {n}")
    return (t1 - t0) / n


async def spawn(peer, n):
    await spawn_await(n // 10 + 1)
    best = 0.0
    for r in range(3):
        ns = await spawn_await(n)
        print(f"# run {r + 1}: {ns:.1f} ns per task")
        if r == 0 or ns < best:
            best = ns
    print(f"RESULT spawn_{peer} {best:.3f} ns")


alive = 0
peak = 0


async def sleeper(secs):
    # Every task counts itself in while it sleeps: the shape is N asleep at once, and a spawning loop slower than
    # the sleep would let the first ones finish before the last ones start.
    global alive, peak
    alive += 1
    peak = max(peak, alive)
    start = time.monotonic()
    await asyncio.sleep(secs)
    # asyncio wakes timers up to one clock resolution early by design (loop._clock_resolution)
    if time.monotonic() - start < secs - 0.001:
        raise RuntimeError("a sleep ended early")
    alive -= 1
    return 0


async def sleep(peer, shape, n, secs):
    t0 = time.monotonic()
    tasks = [asyncio.create_task(sleeper(secs)) for _ in range(n)]
    spawned = time.monotonic() - t0
    await asyncio.gather(*tasks)
    wall = time.monotonic() - t0
    print(f"# {n} tasks: spawning took {spawned:.3f} s, at most {peak} asleep at once")
    if peak != n:
        fail(f"only {peak} of {n} tasks were asleep at once (spawning took {spawned:.1f} s): sleep longer")
    print(f"RESULT {shape}_{peer} {wall:.3f} s")


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport  # asyncio and uvloop both set TCP_NODELAY on TCP transports

    def data_received(self, data):
        self.transport.write(data)


RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
CLOSING = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!"


class Hello(asyncio.Protocol):
    """Answers every complete request head (bodies are not expected: GET only), pipelined ones in order, all the
    answers of one read in one write; a request with "Connection: close" gets the last answer and a close."""

    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")
        if n:
            cut = self.buf.rfind(b"\r\n\r\n") + 4
            heads, self.buf = self.buf[:cut], self.buf[cut:]
            if b"\r\nconnection: close\r\n" in heads.lower():
                self.transport.write(RESPONSE * (n - 1) + CLOSING)
                self.transport.close()
            else:
                self.transport.write(RESPONSE * n)
        elif len(self.buf) > 8192:
            self.transport.close()


async def serve(factory, port):
    srv = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", port, backlog=4096)
    async with srv:
        await srv.serve_forever()


def main():
    args = sys.argv[1:]
    peer = "asyncio"
    if args[:1] == ["--uvloop"]:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        peer = "uvloop"
        args = args[1:]
    if len(args) == 2 and args[0] == "spawn":
        asyncio.run(spawn(peer, count(args[1])))
    elif len(args) == 4 and args[0] == "sleep":
        asyncio.run(sleep(peer, args[1], count(args[2]), count(args[3])))
    elif len(args) == 2 and args[0] == "echo":
        asyncio.run(serve(Echo, count(args[1])))
    elif len(args) == 2 and args[0] == "http":
        asyncio.run(serve(Hello, count(args[1])))
    else:
        fail("usage: peer.py [--uvloop] spawn N | sleep SHAPE N SECS | echo PORT | http PORT")


if __name__ == "__main__":
    main()
