// Control gc_sawtooth: a steady 8 MB working set plus ~40 MB/s of short-lived garbage
// (request buffers dropped right away). HeapAlloc saw-tooths between GCs while the post-GC
// floor stays flat: GC pacing, not a leak.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"
)

var (
	workingSet [][]byte
	checksum   byte
)

// buildWorkingSet allocates the steady live data.
//
//go:noinline
func buildWorkingSet() {
	for i := 0; i < 128; i++ {
		workingSet = append(workingSet, make([]byte, 64<<10))
	}
}

// render allocates a response buffer, touches it and drops it (garbage).
//
//go:noinline
func render(i int) {
	buf := make([]byte, 32<<10)
	buf[i%len(buf)] = byte(i)
	checksum ^= buf[(i*7)%len(buf)]
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	buildWorkingSet()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	i := 0
	t := time.NewTicker(50 * time.Millisecond)
	for range t.C {
		for j := 0; j < 64; j++ { // 64 x 32 KiB per 50 ms = 40 MB/s
			i++
			render(i)
		}
	}
}
