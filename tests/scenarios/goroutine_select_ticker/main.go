// Scenario goroutine_select_ticker: each new subscription starts a watcher goroutine that
// polls on a ticker until its done channel is closed; unsubscribe never closes it (and never
// stops the ticker), so watchers pile up at 30/s, each with its 4 KiB state buffer.
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

// Watcher polls an upstream for one subscription.
type Watcher struct {
	id    int
	state []byte
	done  chan struct{}
}

// poll allocates the watcher's state and ticker, then loops until done is closed (never).
//
//go:noinline
func (w *Watcher) poll() {
	w.state = make([]byte, 4096)
	t := time.NewTicker(2 * time.Second) // BUG: never stopped
	for {
		select {
		case <-t.C:
			w.state[w.id%len(w.state)]++
		case <-w.done:
			return
		}
	}
}

// subscribe starts watchers and drops them without closing done (the leak).
func subscribe() {
	id := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 3; i++ {
			id++
			w := &Watcher{id: id, done: make(chan struct{})}
			go w.poll()
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
	subscribe()
}
