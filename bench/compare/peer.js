// peer.js - the Node.js side of bench/compare.sh: the benchmark shapes corio is compared on, written the plain Node
// way (an async function is a task, awaiting its promise awaits it, setTimeout sleeps, net and http serve). Every
// figure is a `RESULT <shape>_node <value> <unit>` line.
//   usage: node peer.js spawn N | sleep SHAPE N SECS | echo PORT | http PORT   (same meanings as peer.go)
'use strict';
const net = require('net');
const http = require('http');

function fail(msg) {
    process.stderr.write(`peer.js: FAILED: ${msg}\n`);
    process.exit(1);
}

function count(s) {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) fail(`expected a positive integer, got "${s}"`);
    return n;
}

let ran = 0;
async function empty() {
    ran++;
    return 0;
}

async function spawnAwait(n) {
    const ran0 = ran;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await empty();
    const t1 = process.hrtime.bigint();
    if (ran - ran0 !== n) fail(`${ran - ran0} tasks ran, expected ${n}`);
    return Number(t1 - t0) / n;
}

async function spawn(n) {
    await spawnAwait(Math.floor(n / 10) + 1);
    let best = 0;
    for (let r = 0; r < 3; r++) {
        const ns = await spawnAwait(n);
        console.log(`# run ${r + 1}: ${ns.toFixed(1)} ns per task`);
        if (r === 0 || ns < best) best = ns;
    }
    console.log(`RESULT spawn_node ${best.toFixed(3)} ns`);
}

// Every task counts itself in while it sleeps: the shape is N asleep at once, and a spawning loop slower than the
// sleep would let the first ones finish before the last ones start. The timer may fire a millisecond early by the
// monotonic clock (Node rounds), hence the 1 ms slack of the check.
let alive = 0;
let peak = 0;
async function sleeper(ms) {
    if (++alive > peak) peak = alive;
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (performance.now() - start < ms - 1) throw new Error('a sleep ended early');
    alive--;
    return 0;
}

async function sleep(shape, n, secs) {
    const ms = secs * 1000;
    const t0 = performance.now();
    const tasks = new Array(n);
    for (let i = 0; i < n; i++) tasks[i] = sleeper(ms);
    const spawned = (performance.now() - t0) / 1000;
    await Promise.all(tasks);
    const wall = (performance.now() - t0) / 1000;
    console.log(`# ${n} tasks: spawning took ${spawned.toFixed(3)} s, at most ${peak} asleep at once`);
    if (peak !== n) fail(`only ${peak} of ${n} tasks were asleep at once (spawning took ${spawned.toFixed(1)} s)`);
    console.log(`RESULT ${shape}_node ${wall.toFixed(3)} s`);
}

function echo(port) {
    const srv = net.createServer((sock) => {
        sock.setNoDelay(true);
        sock.on('data', (d) => sock.write(d));
        sock.on('error', () => sock.destroy());
    });
    srv.listen(port, '127.0.0.1');
}

function serveHttp(port) {
    const body = 'Hello, World!';
    const srv = http.createServer((req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
        res.end(body);
    });
    srv.keepAliveTimeout = 0; // wrk keeps its connections for the whole run, as against the other servers
    srv.listen(port, '127.0.0.1');
}

const a = process.argv.slice(2);
if (a.length === 2 && a[0] === 'spawn') spawn(count(a[1])).catch((e) => fail(e.message));
else if (a.length === 4 && a[0] === 'sleep') sleep(a[1], count(a[2]), count(a[3])).catch((e) => fail(e.message));
else if (a.length === 2 && a[0] === 'echo') echo(count(a[1]));
else if (a.length === 2 && a[0] === 'http') serveHttp(count(a[1]));
else fail('usage: node peer.js spawn N | sleep SHAPE N SECS | echo PORT | http PORT');
