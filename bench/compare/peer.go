// peer.go - the Go side of bench/compare.sh: the benchmark shapes corio is compared on, written the plain Go way
// (a goroutine per task, a channel or WaitGroup to await it, net and net/http for the servers). Every figure is a
// `RESULT <shape>_go <value> <unit>` line; compare.sh runs it with GOMAXPROCS=1 on one pinned core.
//
//	usage: peer_go spawn N              spawn + run + await an empty goroutine, one at a time (ns, best of 3)
//	       peer_go sleep SHAPE N SECS   N goroutines sleep SECS at once, then are all awaited (wall s)
//	       peer_go echo PORT            TCP echo server, a goroutine per connection
//	       peer_go http PORT            HTTP "Hello, World!" server on net/http
//	       peer_go skynet LEAVES        the skynet tree of goroutines (s, best of 3), on GOMAXPROCS cores
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "peer_go: FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func count(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		fail("expected a positive integer, got %q", s)
	}
	return n
}

// Awaiting means receiving the task's result: the closest Go has to corio_await's status.
func spawnAwait(n int) float64 {
	ran := 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		done := make(chan int, 1)
		go func() { done <- 0 }()
		ran += 1 + <-done
	}
	el := time.Since(t0)
	if ran != n {
		fail("%d goroutines ran, expected %d", ran, n)
	}
	return float64(el.Nanoseconds()) / float64(n)
}

func spawn(n int) {
	spawnAwait(n/10 + 1)
	best := 0.0
	for r := 0; r < 3; r++ {
		ns := spawnAwait(n)
		fmt.Printf("# run %d: %.1f ns per goroutine\n", r+1, ns)
		if r == 0 || ns < best {
			best = ns
		}
	}
	fmt.Printf("RESULT spawn_go %.3f ns\n", best)
}

// The shape is N goroutines asleep at once. Each one waits at a gate until the last is spawned, then sleeps: on
// one core, spawning a million goroutines can take longer than the sleep (every new stack is fresh memory, and
// the collector scans the stacks already there), and without the gate the first ones would finish, and give their
// stacks back, before the last ones start. corio's bench_tasks, asyncio and Node start their tasks after the
// spawning loop as well.
func sleep(shape string, n int, secs int) {
	d := time.Duration(secs) * time.Second
	var wg sync.WaitGroup
	var alive, peak, late int64
	gate := make(chan struct{})
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			a := atomic.AddInt64(&alive, 1)
			for p := atomic.LoadInt64(&peak); a > p && !atomic.CompareAndSwapInt64(&peak, p, a); {
				p = atomic.LoadInt64(&peak)
			}
			<-gate
			start := time.Now()
			time.Sleep(d)
			if time.Since(start) < d {
				atomic.AddInt64(&late, 1)
			}
			atomic.AddInt64(&alive, -1)
			wg.Done()
		}()
	}
	spawned := time.Since(t0).Seconds()
	close(gate)
	wg.Wait()
	wall := time.Since(t0).Seconds()
	fmt.Printf("# %d goroutines: spawning took %.3f s, at most %d asleep at once\n", n, spawned, peak)
	if late != 0 {
		fail("%d sleeps ended early", late)
	}
	if peak != int64(n) {
		fail("only %d of %d goroutines were alive at once", peak, n)
	}
	fmt.Printf("RESULT %s_go %.3f s\n", shape, wall)
}

func echo(port string) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fail("listen: %v", err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) { // Go sets TCP_NODELAY on every TCP connection by default
			defer c.Close()
			buf := make([]byte, 16384)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}(c)
	}
}

func serveHTTP(port string) {
	body := []byte("Hello, World!")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	fail("http: %v", http.ListenAndServe("127.0.0.1:"+port, nil))
}

// The classic skynet: every goroutine starts ten and sums what they send back on a channel.
func skynetNode(c chan int64, num, size int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64, 10)
	for i := int64(0); i < 10; i++ {
		go skynetNode(rc, num+i*(size/10), size/10)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynet(leaves int64) {
	best := 0.0
	for r := 0; r < 3; r++ {
		c := make(chan int64, 1)
		t0 := time.Now()
		go skynetNode(c, 0, leaves)
		sum := <-c
		s := time.Since(t0).Seconds()
		if sum != leaves*(leaves-1)/2 {
			fail("skynet sum %d, expected %d", sum, leaves*(leaves-1)/2)
		}
		fmt.Printf("# run %d: %.3f s\n", r+1, s)
		if r == 0 || s < best {
			best = s
		}
	}
	fmt.Printf("RESULT skynet_go %.3f s\n", best)
}

func main() {
	a := os.Args
	switch {
	case len(a) == 3 && a[1] == "spawn":
		spawn(count(a[2]))
	case len(a) == 5 && a[1] == "sleep":
		sleep(a[2], count(a[3]), count(a[4]))
	case len(a) == 3 && a[1] == "echo":
		echo(a[2])
	case len(a) == 3 && a[1] == "http":
		serveHTTP(a[2])
	case len(a) == 3 && a[1] == "skynet":
		skynet(int64(count(a[2])))
	default:
		fail("usage: peer_go spawn N | sleep SHAPE N SECS | echo PORT | http PORT | skynet LEAVES")
	}
}
