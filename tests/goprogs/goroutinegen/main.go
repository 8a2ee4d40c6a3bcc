// goroutinegen starts known groups of goroutines and known allocations, then stays quiet so
// that goroutine and heap profiles taken one after another describe the same moment.
//
// Ground truth is printed as `GROUP name count` lines, then READY. /memstats serves
// runtime.ReadMemStats as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var (
	block    = make(chan int)
	retained [][]byte
	table    map[int64][]byte
	names    []string
	mu       sync.Mutex
	wg       sync.WaitGroup
)

// Store has a method so that method frames main.(*Store).serve show up.
type Store struct{ in chan string }

func (s *Store) serve() {
	for v := range s.in {
		_ = v
	}
}

//go:noinline
func blockOnChan(id int) {
	<-block
	_ = id
}

//go:noinline
func selectLoop() {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-block:
			return
		case <-t.C:
		}
	}
}

//go:noinline
func sleeper() { time.Sleep(time.Hour) }

//go:noinline
func lockedWaiter() {
	runtime.LockOSThread()
	<-block
}

//go:noinline
func waitOn[T any](ch chan T) { <-ch }

//go:noinline
func mutexWaiter() {
	mu.Lock()
	mu.Unlock()
}

//go:noinline
func groupWaiter() { wg.Wait() }

//go:noinline
func labelledWaiter() { <-block }

//go:noinline
func allocSlices(n, size int) {
	for i := 0; i < n; i++ {
		retained = append(retained, make([]byte, size))
	}
}

//go:noinline
func allocMap(n int) {
	table = make(map[int64][]byte)
	for i := 0; i < n; i++ {
		table[int64(i)] = nil
	}
}

//go:noinline
func allocStrings(n int) {
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("name-%064d", i))
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
	http.HandleFunc("/memstats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&ms)
	})
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()

	runtime.MemProfileRate = 4096
	allocSlices(2000, 4096)
	allocMap(50000)
	allocStrings(20000)

	mu.Lock()
	wg.Add(1)
	s := &Store{in: make(chan string)}
	strs := make(chan string)
	for i := 0; i < 50; i++ {
		go blockOnChan(i)
	}
	for i := 0; i < 20; i++ {
		go selectLoop()
	}
	for i := 0; i < 10; i++ {
		go sleeper()
	}
	for i := 0; i < 3; i++ {
		go lockedWaiter()
	}
	for i := 0; i < 7; i++ {
		go waitOn(strs)
	}
	for i := 0; i < 4; i++ {
		go s.serve()
	}
	for i := 0; i < 5; i++ {
		go mutexWaiter()
	}
	for i := 0; i < 6; i++ {
		go groupWaiter()
	}
	// goroutines started under pprof labels inherit them: `# labels:` in debug=1
	pprof.Do(context.Background(), pprof.Labels("worker", "labelled", "tenant", "a \"b\""),
		func(context.Context) {
			for i := 0; i < 3; i++ {
				go labelledWaiter()
			}
		})
	anon := func() { <-block }
	for i := 0; i < 2; i++ {
		go anon()
	}
	groups := []struct {
		name string
		n    int
	}{
		{"main.blockOnChan", 50}, {"main.selectLoop", 20}, {"main.sleeper", 10},
		{"main.lockedWaiter", 3}, {"main.waitOn[...]", 7}, {"main.(*Store).serve", 4},
		{"main.mutexWaiter", 5}, {"main.groupWaiter", 6}, {"main.labelledWaiter", 3},
		{runtime.FuncForPC(reflect.ValueOf(anon).Pointer()).Name(), 2},
	}
	// let every goroutine reach its blocking point, then publish the heap profile
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	for _, g := range groups {
		fmt.Printf("GROUP %s %d\n", g.name, g.n)
	}
	fmt.Println("READY")
	select {}
}
