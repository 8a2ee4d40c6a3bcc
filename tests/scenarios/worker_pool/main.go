// Control worker_pool: a fixed pool of 8 workers (idle ones wait in chan receive) plus
// short-lived request goroutines spawned at ~100/s, each living 50-500 ms. The goroutine
// count fluctuates around ~35 with no trend and the heap is flat: not a leak.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"
)

type job struct {
	id  int
	buf []byte
}

// worker processes jobs forever; the pool size is fixed.
//
//go:noinline
func worker(jobs <-chan job, done chan<- int) {
	for j := range jobs {
		j.buf[0]++
		done <- j.id
	}
}

// handleRequest lives briefly, submits a job, waits for a result and returns.
//
//go:noinline
func handleRequest(id int, jobs chan<- job, life time.Duration) {
	buf := make([]byte, 2048)
	time.Sleep(life)
	jobs <- job{id: id, buf: buf}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	jobs := make(chan job)
	done := make(chan int, 1024)
	for i := 0; i < 8; i++ {
		go worker(jobs, done)
	}
	go func() { // results sink
		for range done {
		}
	}()
	go spawn(jobs)
	// Let the short-lived population reach its steady size before the first snapshot.
	time.Sleep(time.Second)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	_ = http.Serve(ln, nil)
}

// spawn starts ~100 short-lived request goroutines per second.
func spawn(jobs chan<- job) {
	rng := rand.New(rand.NewSource(1))
	id := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 10; i++ {
			id++
			go handleRequest(id, jobs, time.Duration(50+rng.Intn(450))*time.Millisecond)
		}
	}
}
