//go:build !go1.24 || (go1.24 && !go1.26 && !goexperiment.swissmap)

package main

import "unsafe"

// hmapHead mirrors the start of runtime.hmap (classic maps) to see a growth in progress.
type hmapHead struct {
	count      int
	flags      uint8
	B          uint8
	noverflow  uint16
	hash0      uint32
	buckets    unsafe.Pointer
	oldbuckets unsafe.Pointer
	nevacuate  uintptr
}

// fillGrowing inserts until a growth has started, leaving old buckets not yet evacuated.
//go:noinline
func fillGrowing() map[string]any {
	growing = make(map[int64]int64)
	for i := int64(0); ; i++ {
		growing[i] = i
		h := *(**hmapHead)(unsafe.Pointer(&growing))
		if i > 5000 && h.oldbuckets != nil {
			return map[string]any{"live": len(growing), "B": h.B, "nevacuate": h.nevacuate,
				"growing": true}
		}
	}
}

// shapeOf reports what the runtime itself holds for m: 2^B buckets and noverflow (exact below
// B=16), read through unsafe as ground truth for the inspection tests.
func shapeOf(m map[int64]int64) map[string]any {
	h := *(**hmapHead)(unsafe.Pointer(&m))
	return map[string]any{"B": h.B, "buckets": 1 << h.B, "noverflow": h.noverflow,
		"capacity": 8 * ((1 << h.B) + int(h.noverflow))}
}
