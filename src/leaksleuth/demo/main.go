// orderd: a small order API, bundled with leaksleuth as the `leaksleuth demo` target.
//
// It drives itself: a built-in load generator sends ~100 requests/s to its own API over
// loopback, so nothing external is needed. It has two deliberate bugs:
//   - every request with an unknown session token creates a session in SessionStore, and
//     sessions are never expired (an unbounded map, ~0.5 MB/s);
//   - every new order starts a shipping notification goroutine that sends on a channel whose
//     consumer was never started, so it blocks forever holding its message (~50 goroutines/s).
//
// The recent-orders index, in contrast, is bounded (the oldest orders are evicted).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Session is per-client state; RecentlyViewed makes it a few KiB.
type Session struct {
	Token          string
	User           string
	Created        time.Time
	RecentlyViewed []byte
}

// SessionStore maps session tokens to sessions. BUG: nothing ever expires a session.
type SessionStore struct {
	mu       sync.Mutex
	sessions map[string]*Session
}

// Touch returns the session for token, creating it on first sight.
//
//go:noinline
func (s *SessionStore) Touch(token, user string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[token]; ok {
		return sess
	}
	sess := &Session{
		Token:          strings.Clone(token), // do not pin the request's header memory
		User:           strings.Clone(user),
		Created:        time.Now(),
		RecentlyViewed: make([]byte, 4096),
	}
	s.sessions[sess.Token] = sess
	return sess
}

// Order is what the API creates and serves.
type Order struct {
	ID       int64   `json:"id"`
	User     string  `json:"user"`
	Items    []Item  `json:"items"`
	Total    float64 `json:"total"`
	Created  int64   `json:"created"`
	Shipping string  `json:"shipping"`
}

// Item is one order line.
type Item struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

// OrderIndex keeps the most recent orders only (bounded: not a leak).
type OrderIndex struct {
	mu     sync.Mutex
	limit  int
	nextID int64
	orders map[int64]*Order
}

// Add stores an order and evicts the oldest beyond the limit.
func (x *OrderIndex) Add(o *Order) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.nextID++
	o.ID = x.nextID
	x.orders[o.ID] = o
	delete(x.orders, o.ID-int64(x.limit))
}

// Get returns an order if it is still indexed.
func (x *OrderIndex) Get(id int64) (*Order, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	o, ok := x.orders[id]
	return o, ok
}

// Notifier tells the shipping service about new orders.
type Notifier struct {
	events chan []byte // BUG: the consumer goroutine is never started
}

// notify encodes the shipping event and hands it to the (missing) consumer.
//
//go:noinline
func (n *Notifier) notify(o *Order) {
	msg := make([]byte, 0, 2048)
	msg = fmt.Appendf(msg, `{"event":"order.created","order":%d,"user":%q,"items":%d}`,
		o.ID, o.User, len(o.Items))
	n.events <- msg // blocks forever: nobody receives
}

type api struct {
	sessions *SessionStore
	orders   *OrderIndex
	notifier *Notifier
}

func (a *api) session(r *http.Request) *Session {
	return a.sessions.Touch(r.Header.Get("X-Session"), r.Header.Get("X-User"))
}

func (a *api) createOrder(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	sess := a.session(r)
	var o Order
	if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.User = sess.User
	o.Created = time.Now().Unix()
	for _, it := range o.Items {
		o.Total += float64(it.Qty) * it.Price
	}
	a.orders.Add(&o)
	go a.notifier.notify(&o)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(&o)
}

func (a *api) getOrder(w http.ResponseWriter, r *http.Request) {
	a.session(r)
	id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/orders/"), 10, 64)
	if err != nil {
		http.Error(w, "bad order id", http.StatusBadRequest)
		return
	}
	o, ok := a.orders.Get(id)
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(o)
}

// loadGenerator plays the clients: every 100 ms five new orders and five lookups, each from
// a client with a new session token. Response bodies are drained and closed.
func loadGenerator(base string) {
	client := &http.Client{Timeout: 5 * time.Second}
	do := func(req *http.Request) {
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	n := 0
	t := time.NewTicker(100 * time.Millisecond)
	for range t.C {
		for i := 0; i < 5; i++ {
			n++
			body, _ := json.Marshal(Order{Items: []Item{
				{SKU: "SKU-" + strconv.Itoa(n%97), Qty: 1 + n%3, Price: 9.99},
				{SKU: "SKU-" + strconv.Itoa(n%89), Qty: 1, Price: 24.5},
			}})
			req, _ := http.NewRequest(http.MethodPost, base+"/orders", bytes.NewReader(body))
			req.Header.Set("X-Session", fmt.Sprintf("sess-%08d-a", n))
			req.Header.Set("X-User", "user-"+strconv.Itoa(n%500))
			do(req)
			req, _ = http.NewRequest(http.MethodGet, base+"/orders/"+strconv.Itoa(n/2+1), nil)
			req.Header.Set("X-Session", fmt.Sprintf("sess-%08d-b", n))
			req.Header.Set("X-User", "user-"+strconv.Itoa(n%500))
			do(req)
		}
	}
}

// service is the process-wide API state, as many services keep it: gdb finds the session map
// through this package-level pointer (leaksleuth diagnose --pid names it).
var service *api

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	noLoad := flag.Bool("no-load", false, "do not run the built-in load generator")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	service = &api{
		sessions: &SessionStore{sessions: make(map[string]*Session)},
		orders:   &OrderIndex{limit: 1000, orders: make(map[int64]*Order)},
		notifier: &Notifier{events: make(chan []byte)},
	}
	a := service
	http.HandleFunc("/orders", a.createOrder)
	http.HandleFunc("/orders/", a.getOrder)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	if !*noLoad {
		go loadGenerator("http://" + ln.Addr().String())
	}
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
