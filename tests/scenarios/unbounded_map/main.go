// Scenario unbounded_map: an ingest loop stores every session payload in a map that is never
// pruned, so the live heap grows by about 0.85 MB/s for as long as the process runs.
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

// Store keeps session payloads by key; nothing ever deletes from it (the leak).
type Store struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Put copies the payload and stores it under a fresh key; both allocations and the map's
// growth are charged to this frame. (No adjacent make+copy: Go <= 1.24 compiles that to
// runtime.makeslicecopy, whose heap-profile stacks lose this frame.)
//
//go:noinline
func (s *Store) Put(id int, payload []byte) {
	key := "session-" + strconv.Itoa(id)
	buf := make([]byte, len(payload))
	buf[0] = byte(id)
	copy(buf[1:], payload[1:])
	s.mu.Lock()
	s.m[key] = buf
	s.mu.Unlock()
}

// ingest feeds the store in small batches so the CPU cost stays low.
func ingest(s *Store) {
	payload := make([]byte, 1024)
	id := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 80; i++ {
			id++
			payload[i] = byte(id)
			s.Put(id, payload)
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	ingest(&Store{m: make(map[string][]byte)})
}
