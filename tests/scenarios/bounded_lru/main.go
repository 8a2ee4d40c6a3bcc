// Control bounded_lru: an LRU cache capped at 20k entries (~12 MB) under heavy churn: 5000
// inserts/s, each evicting the least recently used entry once full. Lots of allocation and
// map insert/delete traffic, but the live heap is bounded: not a leak.
package main

import (
	"container/list"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"strconv"
	"sync"
	"time"
)

type entry struct {
	key   string
	value []byte
}

// LRU is a size-bounded cache.
type LRU struct {
	mu    sync.Mutex
	cap   int
	order *list.List
	items map[string]*list.Element
}

// Add inserts or refreshes key, evicting the oldest entry beyond capacity.
//
//go:noinline
func (c *LRU) Add(key string, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	v := make([]byte, size)
	v[0] = byte(len(key))
	c.items[key] = c.order.PushFront(&entry{key: key, value: v})
	if c.order.Len() > c.cap {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*entry).key)
	}
}

func churn(c *LRU) {
	n := 0
	// Small batches every 20 ms: a post-GC heap reading includes whatever was allocated while
	// the profile was written, so big bursts would add steps of noise to the floor.
	t := time.NewTicker(20 * time.Millisecond)
	for range t.C {
		for i := 0; i < 100; i++ {
			n++
			c.Add("obj-"+strconv.Itoa(n), 512)
			c.Add("obj-"+strconv.Itoa(n-n%7), 512) // some hits
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	// The map is sized for 4x the capacity: with classic maps (Go <= 1.23) a map at full load
	// under insert/delete churn keeps adding overflow buckets until a same-size grow, a slow
	// bounded creep (~0.5 MB over 20 s here) that would blur this control.
	c := &LRU{cap: 20000, order: list.New(), items: make(map[string]*list.Element, 80000)}
	for i := 0; i < c.cap; i++ { // start full, before listening: the window sees only churn
		c.Add("seed-"+strconv.Itoa(i), 512)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { _ = http.Serve(ln, nil) }()
	churn(c)
}
