// Control syncmap_churn: a sync.Map session cache under churn: 2000 sessions/s stored, each
// deleted ~2 s later, lookups in between; the live set is bounded (~4000 x 1 KiB). sync.Map's
// Delete does release values (on Go <= 1.23 only small entries linger until the dirty map is
// promoted), so the floor is flat: not a leak.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
	"time"
)

var cache sync.Map

// store caches a new session.
//
//go:noinline
func store(id int64) {
	v := make([]byte, 1024)
	v[0] = byte(id)
	cache.Store(id, v)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	// Warm up before listening with the same operations (sync.Map's internal read/dirty
	// promotion settles after a few cycles on Go <= 1.23): the window sees only steady churn.
	var id int64
	for ; id < 10*live; id++ {
		step(id)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	t := time.NewTicker(20 * time.Millisecond)
	for range t.C {
		for i := 0; i < 40; i++ {
			id++
			step(id)
		}
	}
}

const live = 4000

var hits int

// step is one unit of churn: a new session, a lookup of a recent one, expiry of an old one.
func step(id int64) {
	store(id)
	if _, ok := cache.Load(id - live/2); ok {
		hits++
	}
	cache.Delete(id - live)
}
