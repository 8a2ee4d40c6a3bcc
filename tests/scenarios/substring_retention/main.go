// Scenario substring_retention: each incoming message is read into a fresh 16 KiB buffer and
// only its 16-byte id is kept in an index, but as a sub-slice of the buffer, so the whole
// buffer stays alive (~640 KB/s). The growth is charged to readMessage, where the buffers are
// allocated; the index itself is tiny.
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

var (
	mu      sync.Mutex
	seenIDs = make(map[uint64][]byte)
)

// readMessage simulates reading one message from the wire into a new buffer.
//
//go:noinline
func readMessage(seq uint64) []byte {
	buf := make([]byte, 16<<10)
	for i := 0; i < 16; i++ {
		buf[i] = byte(seq >> (i % 8))
	}
	return buf
}

// indexMessage remembers the id. BUG: msg[:16] pins the whole buffer; it should copy.
//
//go:noinline
func indexMessage(seq uint64, msg []byte) {
	mu.Lock()
	seenIDs[seq] = msg[:16]
	mu.Unlock()
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
	var seq uint64
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 4; i++ {
			seq++
			indexMessage(seq, readMessage(seq))
		}
	}
}
