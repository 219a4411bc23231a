//go:build fslcuda

package model

import (
	"fmt"
	"sync"

	"github.com/fsl-project/fsl/model/gpu"
)

// cudaBackend computes a Model's steps on one CUDA device, with its Nets,
// one per batch shape.
type cudaBackend struct {
	m     *Model
	dev   *gpu.Device
	mu    sync.Mutex // one step at a time; guards nets and order
	nets  map[netKey]*gpu.Net
	order []netKey // least recently used first
}

// netKey identifies a Net: its batch shape.
type netKey struct{ images, size, filters, channels int }

// Devices opened so far, by index. A CUDA device is opened (driver
// initialised, context created, kernels loaded) once per process: the
// driver's context is per process and device, so every Model computing on
// a device shares its handle, and each Model keeps Nets of its own.
var (
	openMu sync.Mutex
	opened = map[int]*gpu.Device{}
)

// deviceError is a device failure: its message, wrapping both the gpu
// package's sentinel and ErrNoCUDA.
type deviceError struct {
	msg  string
	errs []error
}

func (e *deviceError) Error() string   { return e.msg }
func (e *deviceError) Unwrap() []error { return e.errs }

// gpuBackend returns the backend computing m's steps on CUDA device idx ≥ 0.
// Opening a device (once per process) initialises the driver, checks that
// the device exists, that the driver is new enough for the embedded
// kernels and the device for their target, and loads them. Failures wrap
// ErrNoCUDA and one of gpu.ErrNoDevice, gpu.ErrDriverTooOld,
// gpu.ErrDeviceUnsupported or gpu.ErrCUDA, and say what to do.
func gpuBackend(m *Model, idx int) (backend, error) {
	openMu.Lock()
	defer openMu.Unlock()
	d, ok := opened[idx]
	if !ok {
		var err error
		if d, err = gpu.Open(idx); err != nil {
			return nil, &deviceError{
				msg:  fmt.Sprintf("device: gpu %d: %v; use --gpu -1 to compute on the CPU", idx, err),
				errs: []error{err, ErrNoCUDA},
			}
		}
		opened[idx] = d
	}
	return &cudaBackend{m: m, dev: d, nets: map[netKey]*gpu.Net{}}, nil
}

// info describes the device (name, memory, compute capability, driver's
// CUDA version).
func (st *cudaBackend) info() string { return st.dev.Info().String() }

// net returns the Net for key, allocating it (and freeing the least
// recently used beyond maxCachedGraphs) if needed. st.mu is held.
func (st *cudaBackend) net(key netKey) (*gpu.Net, error) {
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
	n, err := st.dev.NewNet(gpu.Shape{Images: key.images, Size: key.size, Filters: key.filters, Channels: key.channels})
	if err != nil {
		return nil, err
	}
	st.nets[key] = n
	st.order = append(st.order, key)
	return n, nil
}
