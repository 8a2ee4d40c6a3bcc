// svc is the configurable Go service the collector tests and the overhead benchmark run.
//
// It serves net/http/pprof under -base, expvar at /debug/vars (with the Go version), a
// Prometheus-style /metrics with go_info, its own ground truth at /stats, and fault switches
// at /admin/fault?path=P&mode=M (M: ok, 404, 500, html, garbage, stall, huge) so tests can make
// one endpoint misbehave. Prints "LISTEN host:port" first, as every test program does.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"expvar"
	"flag"
	"fmt"
	mrand "math/rand"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	mu        sync.Mutex
	faults    = map[string]string{}
	leak      = map[int][]byte{}
	leakBytes int64
	latencies []time.Duration
	workDone  int64
)

func idleWorker(ch chan struct{}) { <-ch }

func leaker(perSecond int) {
	if perSecond <= 0 {
		return
	}
	chunk := perSecond / 10
	if chunk < 1 {
		chunk = 1
	}
	for i := 0; ; i++ {
		time.Sleep(100 * time.Millisecond)
		b := make([]byte, chunk)
		for j := range b {
			b[j] = byte(j)
		}
		mu.Lock()
		leak[i] = b
		leakBytes += int64(chunk)
		mu.Unlock()
	}
}

// load does a fixed unit of allocating work every millisecond over a live heap of liveMB and
// times each unit: the benchmark reads how much a collector's forced GC slows it down.
func load(liveMB int) {
	live := make([][]byte, liveMB*16)
	for i := range live {
		live[i] = make([]byte, 64<<10)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	sink := 0
	for range tick.C {
		start := time.Now()
		for k := 0; k < 20; k++ {
			b := make([]byte, 4096)
			b[k] = byte(k)
			sink += int(b[k])
		}
		live[mrand.Intn(len(live))] = make([]byte, 64<<10)
		d := time.Since(start)
		mu.Lock()
		latencies = append(latencies, d)
		workDone++
		mu.Unlock()
	}
	_ = sink
}

func faulty(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		mode := faults[path]
		mu.Unlock()
		switch mode {
		case "404":
			http.NotFound(w, r)
		case "500":
			http.Error(w, "internal error", 500)
		case "html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!DOCTYPE html><html><head><title>Login</title></head><body>Please sign in</body></html>")
		case "garbage":
			w.Header().Set("Content-Type", "application/octet-stream")
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte(0xF8 | i&7) // no valid protobuf tag
			}
			w.Write(b)
		case "stall":
			select {
			case <-r.Context().Done():
			case <-time.After(60 * time.Second):
			}
		case "huge":
			w.Header().Set("Content-Type", "application/octet-stream")
			b := make([]byte, 1<<20)
			for i := 0; i < 256; i++ {
				if _, err := w.Write(b); err != nil {
					return
				}
			}
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func guarded(token, header string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", 401)
			return
		}
		if header != "" {
			k, v, _ := strings.Cut(header, "=")
			if r.Header.Get(k) != v {
				http.Error(w, "forbidden", 403)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func percentile(ds []time.Duration, p float64) int64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return int64(s[int(float64(len(s)-1)*p)])
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	base := flag.String("base", "/debug/pprof", "where pprof is mounted")
	idle := flag.Int("idle", 10, "parked goroutines (main.idleWorker)")
	leakRate := flag.Int("leak", 0, "bytes retained per second")
	token := flag.String("token", "", "require Authorization: Bearer TOKEN")
	header := flag.String("header", "", "require header NAME=VALUE")
	noVars := flag.Bool("novars", false, "do not serve /debug/vars")
	liveMB := flag.Int("load", 0, "run a steady timed load over a live heap of this many MiB")
	certOut := flag.String("tls-cert-out", "", "serve HTTPS with a fresh self-signed "+
		"certificate for 127.0.0.1, written (PEM) to this file")
	flag.Parse()

	stop := make(chan struct{})
	for i := 0; i < *idle; i++ {
		go idleWorker(stop)
	}
	go leaker(*leakRate)
	if *liveMB > 0 {
		go load(*liveMB)
	}
	expvar.NewString("goversion").Set(runtime.Version())
	expvar.Publish("buildinfo", expvar.Func(func() any {
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			return nil
		}
		return map[string]string{"GoVersion": bi.GoVersion, "Path": bi.Path}
	}))

	mux := http.NewServeMux()
	b := strings.TrimSuffix(*base, "/")
	for _, name := range []string{"heap", "goroutine", "allocs", "block", "mutex", "threadcreate"} {
		p := b + "/" + name
		mux.Handle(p, guarded(*token, *header, faulty(p, pprof.Handler(name))))
	}
	mux.Handle(b+"/", guarded(*token, *header, http.HandlerFunc(pprof.Index)))
	if !*noVars {
		mux.Handle("/debug/vars", guarded(*token, *header, faulty("/debug/vars", expvar.Handler())))
	}
	mux.Handle("/metrics", faulty("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE go_info gauge\ngo_info{version=%q} 1\ngo_goroutines %d\n",
			runtime.Version(), runtime.NumGoroutine())
	})))
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		out := map[string]any{
			"numgoroutine": runtime.NumGoroutine(), "idle": *idle, "leaked_bytes": leakBytes,
			"numgc": ms.NumGC, "heapalloc": ms.HeapAlloc, "pause_total_ns": ms.PauseTotalNs,
			"work_done": workDone, "lat_p50_ns": percentile(latencies, 0.50),
			"lat_p99_ns": percentile(latencies, 0.99), "lat_p999_ns": percentile(latencies, 0.999),
			"lat_max_ns": percentile(latencies, 1.0), "go_version": runtime.Version(),
		}
		if r.URL.Query().Get("reset") == "1" {
			latencies = latencies[:0]
			workDone = 0
		}
		mu.Unlock()
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/admin/fault", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		faults[r.URL.Query().Get("path")] = r.URL.Query().Get("mode")
		mu.Unlock()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/admin/exit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		go func() { time.Sleep(20 * time.Millisecond); os.Exit(0) }()
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *certOut != "" {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{selfSigned(*certOut)}})
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	http.Serve(ln, mux)
}

// selfSigned makes a certificate for 127.0.0.1 and writes it as PEM for the client to trust.
func selfSigned(path string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leaksleuth test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
