// Control warmup_plateau: a configuration/feature cache fills at ~4 MB/s for the first 5 s,
// then stays at its full size; afterwards entries are only replaced in place. The heap grows
// early and then plateaus: not a leak.
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

// FeatureCache holds a fixed set of feature vectors once warmed up.
type FeatureCache struct {
	vectors map[int][]byte
}

// Warm loads one batch of vectors.
//
//go:noinline
func (c *FeatureCache) Warm(from, n int) {
	for i := from; i < from+n; i++ {
		v := make([]byte, 1024)
		v[0] = byte(i)
		c.vectors[i] = v
	}
}

// Refresh replaces existing vectors: steady allocation, constant live size.
//
//go:noinline
func (c *FeatureCache) Refresh(from, n int) {
	for i := from; i < from+n; i++ {
		k := i % len(c.vectors)
		v := make([]byte, 1024)
		v[0] = byte(i)
		c.vectors[k] = v
	}
}

func run(warmup time.Duration) {
	c := &FeatureCache{vectors: make(map[int][]byte)}
	start := time.Now()
	loaded, refreshed := 0, 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		if time.Since(start) < warmup {
			c.Warm(loaded, 400)
			loaded += 400
			continue
		}
		c.Refresh(refreshed, 200)
		refreshed += 200
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	warmup := flag.Duration("warmup", 5*time.Second, "how long the cache grows")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	run(*warmup)
}
