// Scenario client_timeout_body_leak: an inventory checker asks a backend for stock levels
// (a request every 10 ms) through one shared http.Client with a 5 s Timeout and at most 250
// connections, reads the status code and never closes (nor reads) the response body. Nothing
// grows: every dropped body pins its connection until the client's timeout cancels the
// request, so the pool stays full at 250 connections (~50 requests/s get one) and the process
// carries a steady ~500 transport goroutines (a readLoop parked on the unread body and a
// writeLoop per connection) plus ~250 backend conn.serve goroutines, where one idle
// connection would do. LISTEN comes once the pool is full (6 s at least), so the count is
// flat from the first snapshot.
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

// maxConns caps the client's connections to the backend, as many services do: it is what
// makes the held connections a flat plateau whatever the CPU left to this process.
const maxConns = 250

var client = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{MaxConnsPerHost: maxConns},
}

// checkInventory asks the backend whether an item is in stock.
//
//go:noinline
func checkInventory(url string, item int) (bool, error) {
	resp, err := client.Get(fmt.Sprintf("%s?item=%d", url, item))
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK, nil // BUG: resp.Body is never closed
}

// startBackend serves /stock on its own loopback listener.
func startBackend() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stock", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"item":%q,"in_stock":true,"warehouse":"eu-west-3"}`,
			r.URL.Query().Get("item"))
	})
	go func() { _ = http.Serve(ln, mux) }()
	return "http://" + ln.Addr().String() + "/stock"
}

func poll(url string) {
	t := time.NewTicker(10 * time.Millisecond)
	failed := 0
	for i := 0; ; i++ {
		<-t.C
		if _, err := checkInventory(url, i%5000); err != nil {
			if failed++; failed%100 == 1 { // a request that waited for a connection too long
				fmt.Fprintln(os.Stderr, failed, err)
			}
		}
	}
}

// leaky says whether this variant drops bodies (and so fills its connection pool).
const leaky = true

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	warmup := flag.Duration("warmup", 6*time.Second, "load before LISTEN (at least)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go poll(startBackend())
	time.Sleep(*warmup)
	if leaky {
		// until the pool is full: a read and a write loop per client connection, a server
		// goroutine per backend connection
		for end := time.Now().Add(30 * time.Second); runtime.NumGoroutine() < 3*maxConns*95/100 &&
			time.Now().Before(end); {
			time.Sleep(100 * time.Millisecond)
		}
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	_ = http.Serve(ln, nil)
}
