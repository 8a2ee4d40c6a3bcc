//go:build go1.26 || (go1.24 && goexperiment.swissmap)

package main

import "unsafe"

// fillGrowing builds a map of several tables (Swiss maps split tables, never grow in place).
//go:noinline
func fillGrowing() map[string]any {
	growing = make(map[int64]int64)
	for i := int64(0); i < 6000; i++ {
		growing[i] = i
	}
	return map[string]any{"live": len(growing), "growing": false}
}

// swissMap and swissTable mirror the start of internal/runtime/maps.Map and table.
type swissMap struct {
	used   uint64
	seed   uintptr
	dirPtr unsafe.Pointer
	dirLen int
}

type swissTable struct {
	used       uint16
	capacity   uint16
	growthLeft uint16
	localDepth uint8
}

// shapeOf reports the runtime's own capacity of m (sum over distinct tables), as ground truth.
func shapeOf(m map[int64]int64) map[string]any {
	h := *(**swissMap)(unsafe.Pointer(&m))
	if h.dirLen == 0 {
		return map[string]any{"capacity": 8, "tables": 0}
	}
	seen := map[unsafe.Pointer]bool{}
	capacity := 0
	for i := 0; i < h.dirLen; i++ {
		t := *(*unsafe.Pointer)(unsafe.Add(h.dirPtr, i*8))
		if !seen[t] {
			seen[t] = true
			capacity += int((*swissTable)(t).capacity)
		}
	}
	return map[string]any{"capacity": capacity, "tables": len(seen), "dir_len": h.dirLen}
}
