// Scenario slow_leak_big_heap: 200 MB of reference data loaded at start and kept (steady,
// pointer-free so forced GCs stay cheap), plus a slow leak: a metrics registry creates a new
// series for every unique label value (cardinality explosion), ~250 KB/s.
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

var referenceData [][]byte

// loadReferenceData allocates the large, steady part of the heap.
//
//go:noinline
func loadReferenceData(mb int) {
	for i := 0; i < mb; i++ {
		chunk := make([]byte, 1<<20)
		for j := 0; j < len(chunk); j += 4096 {
			chunk[j] = byte(i + j)
		}
		referenceData = append(referenceData, chunk)
	}
}

// MetricsRegistry keeps one series per label set and never expires any (the leak).
type MetricsRegistry struct {
	mu     sync.Mutex
	series map[string][]float64
}

// Observe records a value, creating a series for a label set it has not seen before.
//
//go:noinline
func (r *MetricsRegistry) Observe(path string, userID int, v float64) {
	key := path + "{user=" + strconv.Itoa(userID) + "}"
	r.mu.Lock()
	s, ok := r.series[key]
	if !ok {
		s = make([]float64, 0, 256)
	}
	r.series[key] = append(s, v)
	r.mu.Unlock()
}

func run(reg *MetricsRegistry) {
	user := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 12; i++ {
			user++
			reg.Observe("/api/orders", user, float64(i))
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	steadyMB := flag.Int("steady-mb", 200, "size of the steady reference data")
	flag.Parse()
	// Loaded before listening, like a service reading its data at startup: the heap is
	// already steady when the first snapshot is taken.
	loadReferenceData(*steadyMB)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	// Pre-sized so that no bucket array is reallocated (and the old one freed) during a
	// window: the leaking stack's sampled in-use then only ever grows.
	run(&MetricsRegistry{series: make(map[string][]float64, 1<<16)})
}
