// Command maps_module fills maps in a package of module "leakysvc" and prints ground truth.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"

	"leakysvc/store"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { // keeps the program alive (and answers nothing)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for i := 0; i < 5000; i++ {
		store.Cache[fmt.Sprint("k", i)] = i
	}
	for i := 0; i < 4000; i++ {
		delete(store.Cache, fmt.Sprint("k", i))
	}
	for i := int64(0); i < 42; i++ {
		store.Sessions.ByID[i] = "s"
	}
	fmt.Printf("TRUTH {\"cache\": %d, \"sessions\": %d}\n", len(store.Cache),
		len(store.Sessions.ByID))
	select {}
}
