// Package store holds state in package-level variables of a module whose path has no dot.
package store

// Cache is a package-level map outside package main.
var Cache = map[string]int{}

// Sessions is reached through a package-level pointer.
var Sessions = &Registry{ByID: map[int64]string{}}

// Registry keeps a map in a struct field.
type Registry struct {
	ByID map[int64]string
}
