// htmlleak: a service that leaks through many distinct call stacks, for the flame-graph
// benchmark. With -stacks N it records every allocation (MemProfileRate=1) and retains one small
// object from each of N distinct stacks: a binary recursion of depth log2(N) through left/right,
// so the heap profile has N samples. Then it keeps leaking from leakyCache.Put.
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

var retained [][]byte

//go:noinline
func left(depth int, path uint64) {
	descend(depth, path)
}

//go:noinline
func right(depth int, path uint64) {
	descend(depth, path)
}

//go:noinline
func descend(depth int, path uint64) {
	if depth == 0 {
		retained = append(retained, make([]byte, 16))
		return
	}
	if path&(1<<(depth-1)) != 0 {
		right(depth-1, path)
	} else {
		left(depth-1, path)
	}
}

type leakyCache struct{ m map[int][]byte }

//go:noinline
func (c *leakyCache) Put(k int) { c.m[k] = make([]byte, 4096) }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	stacks := flag.Int("stacks", 0, "distinct stacks to allocate from (a power of two)")
	flag.Parse()
	if *stacks > 0 {
		runtime.MemProfileRate = 1
		depth := 0
		for 1<<depth < *stacks {
			depth++
		}
		retained = make([][]byte, 0, *stacks)
		for p := 0; p < *stacks; p++ {
			descend(depth, uint64(p))
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	c := &leakyCache{m: map[int][]byte{}}
	for k := 0; ; k++ {
		c.Put(k)
		time.Sleep(time.Millisecond)
	}
}
