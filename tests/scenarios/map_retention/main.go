// Scenario map_retention: at start a session map is filled to 200k entries, then all but 10
// are deleted (a burst that passed). Maps never shrink, so the ~30 MB of buckets/groups stay
// allocated for 10 live entries. Afterwards the service runs flat: the floor does not grow
// (no leak), but the map retains far more than its content (retention, visible with gdb).
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

// session is stored inline in the map (under 128 bytes), so the map's slots hold its bytes.
type session struct {
	user    int64
	expires int64
	data    [96]byte
}

var (
	mu       sync.Mutex
	sessions = make(map[int64]session)
)

// burst simulates a login storm: n sessions created, then all but keep of them expire.
//
//go:noinline
func burst(n, keep int) {
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < n; i++ {
		sessions[int64(i)] = session{user: int64(i), expires: int64(i)}
	}
	for i := keep; i < n; i++ {
		delete(sessions, int64(i))
	}
}

// touch is the steady workload: it only updates the few live sessions.
//
//go:noinline
func touch(i int) {
	mu.Lock()
	k := int64(i % 10)
	s := sessions[k]
	s.expires++
	sessions[k] = s
	mu.Unlock()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	burst(200000, 10) // before listening: the window starts after the burst
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	i := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for j := 0; j < 50; j++ {
			i++
			touch(i)
		}
	}
}
