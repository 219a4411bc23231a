//go:build fslcuda

package model

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/fsl-project/fsl/model/gpu"
)

// cudaState is the selected GPU with its Nets, one per batch shape.
type cudaState struct {
	dev   *gpu.Device
	mu    sync.Mutex // one step at a time; guards nets and order
	nets  map[netKey]*gpu.Net
	order []netKey // least recently used first
}

// netKey identifies a Net: its batch shape.
type netKey struct{ images, size, filters int }

var (
	current atomic.Pointer[cudaState] // nil: the CPU
	openMu  sync.Mutex
	opened  = map[int]*cudaState{} // devices opened so far, by index
)

// deviceError is a Device failure: its message, wrapping both the gpu
// package's sentinel and ErrNoCUDA.
type deviceError struct {
	msg  string
	errs []error
}

func (e *deviceError) Error() string   { return e.msg }
func (e *deviceError) Unwrap() []error { return e.errs }

// Device selects where the model computes: gpu = -1 is the CPU, gpu ≥ 0
// the CUDA device of that index, on which Grad then runs for float32
// models (Embed stays on the CPU). Selecting a device initialises the
// driver, checks that the device exists, that the driver is new enough
// for the embedded kernels and the device for their target, and loads
// them. Failures wrap ErrNoCUDA and one of gpu.ErrNoDevice,
// gpu.ErrDriverTooOld, gpu.ErrDeviceUnsupported or gpu.ErrCUDA, and say
// what to do; the selection is then unchanged. Call it before computing,
// not concurrently with Grad.
func Device(idx int) error {
	switch {
	case idx == -1:
		current.Store(nil)
		return nil
	case idx < -1:
		return fmt.Errorf("device: gpu %d, want -1 (CPU) or a GPU index ≥ 0", idx)
	}
	openMu.Lock()
	defer openMu.Unlock()
	st, ok := opened[idx]
	if !ok {
		d, err := gpu.Open(idx)
		if err != nil {
			return &deviceError{
				msg:  fmt.Sprintf("device: gpu %d: %v; use --gpu -1 to compute on the CPU", idx, err),
				errs: []error{err, ErrNoCUDA},
			}
		}
		st = &cudaState{dev: d, nets: map[netKey]*gpu.Net{}}
		opened[idx] = st
	}
	current.Store(st)
	return nil
}

// DeviceInfo describes the GPU Device selected (name, memory, compute
// capability, driver's CUDA version), or "" when it is the CPU.
func DeviceInfo() string {
	if st := current.Load(); st != nil {
		return st.dev.Info().String()
	}
	return ""
}

// net returns the Net for key, allocating it (and freeing the least
// recently used beyond maxCachedGraphs) if needed. st.mu is held.
func (st *cudaState) net(key netKey) (*gpu.Net, error) {
	if n, ok := st.nets[key]; ok {
		for i, k := range st.order {
			if k == key {
				st.order = append(append(st.order[:i:i], st.order[i+1:]...), key)
				break
			}
		}
		return n, nil
	}
	if len(st.order) >= maxCachedGraphs {
		old := st.order[0]
		st.order = st.order[1:]
		err := st.nets[old].Close()
		delete(st.nets, old)
		if err != nil {
			return nil, err
		}
	}
	n, err := st.dev.NewNet(gpu.Shape{Images: key.images, Size: key.size, Filters: key.filters})
	if err != nil {
		return nil, err
	}
	st.nets[key] = n
	st.order = append(st.order, key)
	return n, nil
}
