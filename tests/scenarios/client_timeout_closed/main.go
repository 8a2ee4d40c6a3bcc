// Scenario client_timeout_closed, the control for client_timeout_body_leak: the same inventory
// checker, the same client (5 s Timeout, at most 250 connections), the same ticker (a request
// every 10 ms) and the same in-process backend, but every response body is drained and
// closed, so the transport reuses one keep-alive connection: 2 transport goroutines and 1
// backend goroutine, flat.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
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
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK, nil
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
	fmt.Printf("LISTEN %s\n", ln.Addr())
	_ = http.Serve(ln, nil)
}
