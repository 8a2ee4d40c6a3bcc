// Scenario goroutine_mutex: billing goroutines prepare an invoice and then take the tenant's
// lock; an early error path in settle returned without unlocking, so the lock is held forever
// and every later charge blocks in Mutex.Lock (semacquire), ~20 goroutines/s. The 8 KiB
// invoice does not escape, so it lives on each goroutine's stack: the leaked memory shows as
// StackInuse (~16 KiB per goroutine), not as heap.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"sync"
	"time"
)

// Tenant is one customer account.
type Tenant struct {
	mu      sync.Mutex
	balance int64
}

var (
	tenant   Tenant
	invoices int
)

// settle is the buggy path: on error it returns with the lock still held.
//
//go:noinline
func (t *Tenant) settle(amount int64) error {
	t.mu.Lock()
	if amount > 1000 {
		return errors.New("limit exceeded") // BUG: no t.mu.Unlock()
	}
	t.balance -= amount
	t.mu.Unlock()
	return nil
}

// chargeTenant builds the invoice, then waits for the tenant lock (forever once it leaked).
//
//go:noinline
func chargeTenant(t *Tenant, amount int64) {
	invoice := make([]byte, 8192)
	invoice[0] = byte(amount)
	t.mu.Lock()
	t.balance += amount
	invoices += int(invoice[0])
	t.mu.Unlock()
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
	_ = tenant.settle(5000) // the one failing settlement that leaks the lock
	n := int64(0)
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 2; i++ {
			n++
			go chargeTenant(&tenant, n%100)
		}
	}
}
