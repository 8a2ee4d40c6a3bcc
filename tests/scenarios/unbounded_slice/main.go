// Scenario unbounded_slice: every request appends a fixed-size audit record (stored inline,
// by value) to a package-level slice that is never truncated; the live heap grows by about
// 0.75 MB/s, all of it in the slice's backing array (runtime.growslice under Append).
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

// Record is a 512-byte audit entry kept by value, so the slice itself holds all the memory.
type Record struct {
	At     int64
	Seq    int64
	Actor  [32]byte
	Detail [464]byte
}

// AuditLog keeps every record forever (the leak).
type AuditLog struct {
	mu      sync.Mutex
	entries []Record
}

var auditLog AuditLog

// Append adds one record; the slice's reallocation is charged to this frame.
//
//go:noinline
func (l *AuditLog) Append(seq int64, actor string) {
	l.mu.Lock()
	l.entries = append(l.entries, Record{At: time.Now().UnixNano(), Seq: seq})
	r := &l.entries[len(l.entries)-1]
	copy(r.Actor[:], actor)
	l.mu.Unlock()
}

func serveRequests() {
	var seq int64
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 150; i++ {
			seq++
			auditLog.Append(seq, "alice")
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
	serveRequests()
}
