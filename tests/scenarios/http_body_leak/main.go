// Scenario http_body_leak: a status poller asks a backend for the status of a batch of
// services (POST with a JSON query, default transport) and never closes (nor reads) the
// response body. Every response pins its connection, so each request opens a new one: per
// request the client keeps a readLoop and a writeLoop goroutine (and the backend, in the same
// process, a conn.serve goroutine) forever, and the pinned request keeps its 32 KiB query,
// built in fetchStatus, alive. (A plain http.Get would retain only ~1 KiB per request under
// fetchStatus, too little for the 512 KiB heap sampling to attribute reliably.)
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"
)

// fetchStatus asks the backend for its status.
//
//go:noinline
func fetchStatus(url string, services int) (int, error) {
	query := make([]byte, 0, 32<<10)
	query = append(query, `{"services":[`...)
	for i := 0; i < services; i++ {
		if i > 0 {
			query = append(query, ',')
		}
		query = fmt.Appendf(query, `"svc-%05d"`, i)
	}
	query = append(query, "]}"...)
	resp, err := http.Post(url, "application/json", bytes.NewReader(query))
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil // BUG: resp.Body is never closed
}

// startBackend serves /status on its own loopback listener.
func startBackend() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","uptime":12345,"version":"1.4.2"}`))
	})
	go func() { _ = http.Serve(ln, mux) }()
	return "http://" + ln.Addr().String() + "/status"
}

func poll(url string) {
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		if _, err := fetchStatus(url, 2500); err != nil {
			fmt.Fprintln(os.Stderr, err)
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
	poll(startBackend())
}
