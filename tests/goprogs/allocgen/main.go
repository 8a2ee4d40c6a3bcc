// allocgen writes heap, allocs and goroutine profiles with known content, for parity tests
// against `go tool pprof` and for the parse benchmark.
//
//	allocgen -out DIR                 parity profiles: heap1/allocs1/goroutine1 (base) and
//	                                  heap2/allocs2/goroutine2 (new), as .pb.gz
//	allocgen -out DIR -bench N        bench profiles: base.pb.gz (N/2 stacks) and
//	                                  new.pb.gz (N stacks), distinct stacks from the bits of i
//
// It prints "DONE" when the files are written. Standard library only.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
)

// Sample every allocation so the profiles are (nearly) deterministic.
var _ = func() int { runtime.MemProfileRate = 1; return 0 }()

var keep [][]byte
var keepMu sync.Mutex

func hold(b []byte) {
	keepMu.Lock()
	keep = append(keep, b)
	keepMu.Unlock()
}

//go:noinline
func leakSmall(n int) {
	for i := 0; i < n; i++ {
		hold(make([]byte, 1000))
	}
}

//go:noinline
func leakLarge(n int) [][]byte {
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, make([]byte, 64<<10))
	}
	return out
}

// inlinedAlloc is small enough to be inlined into its caller: pprof shows it as a frame.
func inlinedAlloc() []byte { return make([]byte, 4096) }

//go:noinline
func callsInlined(n int) {
	for i := 0; i < n; i++ {
		hold(inlinedAlloc())
	}
}

//go:noinline
func recurse(depth int) {
	if depth == 0 {
		hold(make([]byte, 2048))
		return
	}
	recurse(depth - 1)
}

//go:noinline
func churn(n int) {
	for i := 0; i < n; i++ {
		_ = make([]byte, 512) // garbage: shows in allocs, not in inuse
	}
}

//go:noinline
func leakGrowing(n int) {
	for i := 0; i < n; i++ {
		hold(make([]byte, 300))
	}
}

//go:noinline
func waiterA(ch chan struct{}) { <-ch }

//go:noinline
func waiterB(ch chan struct{}) { <-ch }

func write(dir, name, profile string) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		panic(err)
	}
	if err := pprof.Lookup(profile).WriteTo(f, 0); err != nil {
		panic(err)
	}
	f.Close()
}

func snapshot(dir, suffix string) {
	runtime.GC()
	runtime.GC()
	write(dir, "heap"+suffix+".pb.gz", "heap")
	write(dir, "allocs"+suffix+".pb.gz", "allocs")
	write(dir, "goroutine"+suffix+".pb.gz", "goroutine")
}

func parity(dir string) {
	ch := make(chan struct{})
	for i := 0; i < 4; i++ {
		go waiterA(ch)
	}
	leakSmall(200)
	large := leakLarge(20)
	callsInlined(30)
	for i := 0; i < 10; i++ {
		recurse(5)
	}
	churn(500)
	snapshot(dir, "1")
	for i := 0; i < 7; i++ {
		go waiterB(ch)
	}
	leakSmall(300)
	large = append([][]byte(nil), large[:5]...) // frees 15 large objects
	leakGrowing(400)
	churn(200)
	snapshot(dir, "2")
	runtime.KeepAlive(large)
	close(ch)
}

// bench: the stack of allocation i encodes the low 20 bits of i as a chain of left/right calls.

//go:noinline
func left(i, level int) {
	if level == 0 {
		hold(make([]byte, 16+(i%7)*8))
		return
	}
	if (i>>(level-1))&1 == 0 {
		left(i, level-1)
	} else {
		right(i, level-1)
	}
}

//go:noinline
func right(i, level int) {
	if level == 0 {
		hold(make([]byte, 16+(i%5)*8))
		return
	}
	if (i>>(level-1))&1 == 0 {
		left(i, level-1)
	} else {
		right(i, level-1)
	}
}

func bench(dir string, n int) {
	for i := 0; i < n/2; i++ {
		left(i, 20)
	}
	runtime.GC()
	runtime.GC()
	f, _ := os.Create(filepath.Join(dir, "base.pb.gz"))
	if err := pprof.WriteHeapProfile(f); err != nil {
		panic(err)
	}
	f.Close()
	for i := n / 2; i < n; i++ {
		left(i, 20)
	}
	runtime.GC()
	runtime.GC()
	f, _ = os.Create(filepath.Join(dir, "new.pb.gz"))
	if err := pprof.WriteHeapProfile(f); err != nil {
		panic(err)
	}
	f.Close()
}

func main() {
	out := flag.String("out", ".", "output directory")
	n := flag.Int("bench", 0, "write bench profiles with this many distinct stacks")
	flag.Parse()
	if *n > 0 {
		bench(*out, *n)
	} else {
		parity(*out)
	}
	fmt.Println("DONE")
}
