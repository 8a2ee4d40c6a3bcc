// Scenario client_timeout_body_leak: an inventory checker asks a backend for stock levels 50
// times a second through one shared http.Client with a 5 s Timeout, reads the status code and
// never closes (nor reads) the response body. Nothing grows: every dropped body pins its
// connection until the client's timeout cancels the request, so the process carries a steady
// ~500 transport goroutines (a readLoop parked on the unread body and a writeLoop per
// connection) plus ~250 backend conn.serve goroutines in the same process, where one idle
// connection would do. The load starts 7 s before LISTEN, so the count is flat from the first
// snapshot.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"
)

var client = &http.Client{Timeout: 5 * time.Second}

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
	t := time.NewTicker(20 * time.Millisecond)
	for i := 0; ; i++ {
		<-t.C
		if _, err := checkInventory(url, i%5000); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	warmup := flag.Duration("warmup", 7*time.Second, "load before LISTEN")
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
