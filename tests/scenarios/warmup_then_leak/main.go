// Scenario warmup_then_leak: at start the service loads a 24 MB product catalog (2 s), then
// runs flat; from 7 s on, a request tracker starts recording every request in a map that is
// never pruned (~0.9 MB/s). The early growth is a bounded warm-up; the leak is in the tail.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"strconv"
	"sync"
	"time"
)

// Catalog is filled once to a fixed size (not a leak).
type Catalog struct {
	items map[int][]byte
}

// Load inserts one batch of catalog items.
//
//go:noinline
func (c *Catalog) Load(from, n int) {
	for i := from; i < from+n; i++ {
		item := make([]byte, 1024)
		item[0] = byte(i)
		c.items[i] = item
	}
}

// Lookup reads an item (the steady, allocation-free part of the workload).
//
//go:noinline
func (c *Catalog) Lookup(i int) byte { return c.items[i%len(c.items)][0] }

// RequestTracker keeps a trace for every request id and never forgets one (the leak).
type RequestTracker struct {
	mu     sync.Mutex
	traces map[string][]byte
}

// Track records the trace of one request.
//
//go:noinline
func (t *RequestTracker) Track(reqID int) {
	key := "req-" + strconv.Itoa(reqID)
	trace := make([]byte, 1024)
	trace[0] = byte(reqID)
	t.mu.Lock()
	t.traces[key] = trace
	t.mu.Unlock()
}

func run(leakAfter time.Duration) {
	cat := &Catalog{items: make(map[int][]byte)}
	tr := &RequestTracker{traces: make(map[string][]byte)}
	start := time.Now()
	const catalogSize = 24000
	loaded, reqID := 0, 0
	var sum byte
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		if loaded < catalogSize { // warm-up: 1200 items per tick, done after 2 s
			cat.Load(loaded, 1200)
			loaded += 1200
		}
		for i := 0; i < 80; i++ {
			reqID++
			sum += cat.Lookup(reqID)
			if time.Since(start) >= leakAfter {
				tr.Track(reqID)
			}
		}
	}
	fmt.Fprintln(os.Stderr, sum)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	leakAfter := flag.Duration("leak-after", 7*time.Second, "when the tracker starts leaking")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	run(*leakAfter)
}
