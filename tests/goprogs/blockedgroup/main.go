// blockedgroup: 60 goroutines in main.awaitReply block at startup on replies that never come
// (nobody sends on their channels), beside 8 idle pool workers in main.worker (a normal,
// small group waiting for jobs) and a ticker that does a little work. Nothing grows: the
// blocked group is found only by how long it has waited (the debug=2 dump's "N minutes").
//
// The runtime dates a wait from the first GC that finds the goroutine blocked (it sets
// g.waitsince while scanning stacks), not from the moment it blocked: a program that never
// collects shows no minutes at all. Hence the GC right after the goroutines block.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"time"
)

// awaitReply waits for a reply that the (buggy) dispatcher never sends.
//
//go:noinline
func awaitReply(id int, reply chan []byte) {
	buf := <-reply
	fmt.Println(id, len(buf))
}

//go:noinline
func worker(jobs chan int) {
	for j := range jobs {
		_ = j * j
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	for i := 0; i < 60; i++ {
		go awaitReply(i, make(chan []byte))
	}
	time.Sleep(100 * time.Millisecond)
	runtime.GC()
	jobs := make(chan int)
	for i := 0; i < 8; i++ {
		go worker(jobs)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		for i := 0; ; i++ {
			<-t.C
			jobs <- i
		}
	}()
	_ = http.Serve(ln, nil)
}
