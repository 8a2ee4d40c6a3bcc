// Command maps builds package-level maps in known states and prints their ground truth.
//
// It listens on -addr (net/http/pprof included), prints "LISTEN host:port", builds the maps,
// prints one "TRUTH {json}" line and then idles, so a live attach and a gcore core file see
// the same state.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sync"
)

type bigKey [144]byte // over 128 bytes: stored indirectly
type bigVal [136]byte

type registry struct {
	name  string
	byID  map[int]string
	inner struct{ counts map[string]int }
}

var (
	big      map[int64]int64
	small    map[string]int
	growing  map[int64]int64
	indirect map[bigKey]bigVal
	nested   map[string]map[int]int
	syncmap  sync.Map
	reg      *registry
	huge     map[int64]int64
	sink     [][]byte
	chans    []chan [64]int
)

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

//go:noinline
func fillBig(n, keep int) {
	big = make(map[int64]int64)
	for i := 0; i < n; i++ {
		big[int64(i)] = int64(i)
	}
	for i := keep; i < n; i++ {
		delete(big, int64(i))
	}
}

//go:noinline
func fillHuge(n int) {
	huge = make(map[int64]int64)
	for i := 0; i < n; i++ {
		huge[int64(i)] = int64(i)
	}
}

//go:noinline
func growSlices() {
	for i := 0; i < 64; i++ {
		var b []byte
		for j := 0; j < 40000; j++ {
			b = append(b, byte(j))
		}
		sink = append(sink, b)
	}
}

//go:noinline
func makeChans() {
	for i := 0; i < 64; i++ {
		chans = append(chans, make(chan [64]int, 100))
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	n := flag.Int("big", 200000, "entries put into main.big")
	keep := flag.Int("keep", 10, "entries left in main.big")
	hugeN := flag.Int("huge", 0, "entries in main.huge (benchmark)")
	profAll := flag.Bool("profall", false, "record every allocation in the heap profile")
	flag.Parse()
	if *profAll {
		runtime.MemProfileRate = 1
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()

	truth := map[string]any{"go": runtime.Version()}
	before := heapAlloc()
	fillBig(*n, *keep)
	after := heapAlloc()
	truth["big"] = map[string]any{"live": len(big), "inserted": *n, "heap_delta": after - before,
		"shape": shapeOf(big)}

	small = map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
	delete(small, "e")
	truth["small"] = len(small)

	truth["growing"] = fillGrowing()
	truth["growing_shape"] = shapeOf(growing)

	indirect = make(map[bigKey]bigVal)
	for i := 0; i < 100; i++ {
		var k bigKey
		k[0], k[1] = byte(i), byte(i>>8)
		indirect[k] = bigVal{byte(i)}
	}
	for i := 0; i < 30; i++ {
		var k bigKey
		k[0], k[1] = byte(i), byte(i>>8)
		delete(indirect, k)
	}
	truth["indirect"] = len(indirect)

	nested = make(map[string]map[int]int)
	inner := 0
	for i := 0; i < 20; i++ {
		m := make(map[int]int)
		for j := 0; j < i*7; j++ {
			m[j] = j
		}
		nested[fmt.Sprintf("k%d", i)] = m
		inner += len(m)
	}
	truth["nested"] = map[string]int{"outer": len(nested), "inner_entries": inner}

	for i := 0; i < 1000; i++ {
		syncmap.Store(i, fmt.Sprint(i))
	}
	for i := 0; i < 1000; i++ { // misses promote the dirty map to the read map (<= 1.23)
		syncmap.Load(-1)
	}
	for i := 0; i < 300; i++ { // deleted from the read map: entries stay, values go
		syncmap.Delete(i)
	}
	for i := 1000; i < 1050; i++ { // a new dirty map: deleted read entries are expunged
		syncmap.Store(i, "x")
	}
	truth["syncmap"] = 750

	reg = &registry{name: "r", byID: map[int]string{1: "a", 2: "b", 3: "c"}}
	reg.inner.counts = map[string]int{"x": 1, "y": 2}
	truth["reg.byID"] = 3
	truth["reg.inner.counts"] = 2

	if *hugeN > 0 {
		fillHuge(*hugeN)
		truth["huge"] = len(huge)
		truth["huge_shape"] = shapeOf(huge)
	}
	growSlices()
	makeChans()
	out, _ := json.Marshal(truth)
	fmt.Printf("TRUTH %s\n", out)
	select {}
}
