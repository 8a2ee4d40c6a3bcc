// promsvc is a Go service instrumented like any client_golang program: /metrics exports
// go_memstats_*, go_goroutines, process_resident_memory_bytes, go_gc_gogc_percent and
// go_gc_gomemlimit_bytes, plus its own ground truth promsvc_live_heap_bytes (the runtime's
// marked live heap, /gc/heap/live:bytes) and promsvc_leaked_bytes. It serves net/http/pprof.
//
// Workload (self-driven, ticker-paced, stops with the process): -garbage bytes/s of
// short-lived allocations over a -working set, -leak bytes/s kept forever in a map, and
// -goroutine-leak goroutines/s that block forever. POST /admin/leak?rate=N changes the leak
// rate while it runs (a leak that speeds up). Prints "LISTEN host:port" first.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	mu       sync.Mutex
	store    = map[int][]byte{}
	leaked   int64
	working  [][]byte
	sink     []byte
	blockers = make(chan struct{})
	leakRate atomic.Int64 // bytes leaked per second, changed by /admin/leak
)

func fill(b []byte) {
	for i := 0; i < len(b); i += 512 {
		b[i] = byte(i)
	}
}

func work(garbage, goroutines int) {
	const tick = 50 * time.Millisecond
	perTick := func(rate int) int { return rate / int(time.Second/tick) }
	g := perTick(garbage)
	gor := 0.0
	next := 0
	t := time.NewTicker(tick)
	for range t.C {
		l := perTick(int(leakRate.Load()))
		for done := 0; done < g; done += 32 << 10 {
			b := make([]byte, 32<<10)
			fill(b)
			sink = b
		}
		if l > 0 {
			b := make([]byte, l)
			fill(b)
			mu.Lock()
			store[next] = b
			next++
			leaked += int64(l)
			mu.Unlock()
		}
		gor += float64(goroutines) * tick.Seconds()
		for ; gor >= 1; gor-- {
			go func() { <-blockers }()
		}
	}
}

func readRSS() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}

func metricsHandler(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"},
	}
	metrics.Read(samples)
	val := func(i int) float64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return float64(samples[i].Value.Uint64())
		}
		return -1
	}
	mu.Lock()
	lk := leaked
	mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	p := func(name, typ string, v float64) {
		fmt.Fprintf(w, "# TYPE %s %s\n%s %g\n", name, typ, name, v)
	}
	p("go_memstats_heap_alloc_bytes", "gauge", float64(ms.HeapAlloc))
	p("go_memstats_heap_inuse_bytes", "gauge", float64(ms.HeapInuse))
	p("go_memstats_next_gc_bytes", "gauge", float64(ms.NextGC))
	p("go_memstats_sys_bytes", "gauge", float64(ms.Sys))
	p("go_memstats_last_gc_time_seconds", "gauge", float64(ms.LastGC)/1e9)
	p("go_goroutines", "gauge", float64(runtime.NumGoroutine()))
	p("process_resident_memory_bytes", "gauge", readRSS())
	p("go_gc_gogc_percent", "gauge", val(1))
	p("go_gc_gomemlimit_bytes", "gauge", val(2))
	p("promsvc_live_heap_bytes", "gauge", val(0))
	p("promsvc_leaked_bytes", "counter", float64(lk))
	p("promsvc_gc_cycles_total", "counter", float64(ms.NumGC))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	garbage := flag.Int("garbage", 8<<20, "short-lived bytes allocated per second")
	ws := flag.Int("working", 4<<20, "steady working set in bytes")
	leak := flag.Int("leak", 0, "bytes leaked per second")
	gl := flag.Int("goroutine-leak", 0, "goroutines leaked per second")
	flag.Parse()
	for n := 0; n < *ws; n += 64 << 10 {
		b := make([]byte, 64<<10)
		fill(b)
		working = append(working, b)
	}
	leakRate.Store(int64(*leak))
	http.HandleFunc("/metrics", metricsHandler)
	http.HandleFunc("/admin/leak", func(w http.ResponseWriter, r *http.Request) {
		rate, err := strconv.ParseInt(r.URL.Query().Get("rate"), 10, 64)
		if r.Method != http.MethodPost || err != nil || rate < 0 {
			http.Error(w, "POST /admin/leak?rate=BYTES_PER_SECOND", http.StatusBadRequest)
			return
		}
		leakRate.Store(rate)
		fmt.Fprintf(w, "leak %d B/s\n", rate)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go work(*garbage, *gl)
	_ = http.Serve(ln, nil)
}
