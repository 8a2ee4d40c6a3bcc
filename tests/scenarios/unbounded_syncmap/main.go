// Scenario unbounded_syncmap: a package-level sync.Map caches every session ever seen and
// nothing ever deletes from it, so the live heap grows by about 0.7 MB/s.
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

// Session is what the cache keeps; the token buffer dominates its size.
type Session struct {
	ID      int64
	User    string
	Token   []byte
	Created time.Time
}

// sessionCache is only ever added to (the leak).
var sessionCache sync.Map

// remember builds the session and caches it: the session, its token, the boxed key and the
// sync.Map's own nodes are all allocated under this frame.
//
//go:noinline
func remember(id int64, user string) {
	s := &Session{ID: id, User: user, Token: make([]byte, 1024), Created: time.Now()}
	s.Token[0] = byte(id)
	sessionCache.Store(id, s)
}

func login() {
	var id int64 = 1 << 20
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 60; i++ {
			id++
			remember(id, "user")
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
	login()
}
