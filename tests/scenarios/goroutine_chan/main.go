// Scenario goroutine_chan: every dispatched job starts a goroutine that allocates a work
// buffer and then waits for an acknowledgement on a channel nobody ever sends on. About 30
// goroutines/s leak, each holding its 16 KiB buffer and its stack.
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

var processed int

// consume keeps the buffer live across the blocking receive in processJob.
//
//go:noinline
func consume(buf []byte) { processed += int(buf[0]) }

// processJob allocates its buffer (heap evidence) and blocks on ack forever (goroutine
// evidence): both are charged to this frame.
//
//go:noinline
func processJob(id int, size int, ack <-chan struct{}) {
	buf := make([]byte, size)
	buf[0] = byte(id)
	<-ack // BUG: the dispatcher never acknowledges, so this never returns
	consume(buf)
}

// dispatch starts a job goroutine and forgets its ack channel.
func dispatch() {
	id := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 3; i++ {
			id++
			ack := make(chan struct{})
			go processJob(id, 16<<10, ack)
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
	dispatch()
}
