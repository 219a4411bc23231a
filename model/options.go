package model

// Option configures a Model at New, nats.go style: model.New(cfg,
// model.Threads(4), model.GPU(0)). With no options a Model computes on the
// CPU on one goroutine.
type Option func(*options)

// options are a Model's compute settings; the zero value is not used
// directly: defaults are set in New.
type options struct {
	threads int
	gpu     int
}

// Threads makes one Grad or Embed call compute on up to n goroutines
// (n < 1 is taken as 1, the default). The work is cut into the same pieces
// whatever n is and combined in a fixed order, so results are bitwise the
// same for every n. It applies to the CPU backend; a GPU step uses it
// only for Embed, which stays on the CPU.
func Threads(n int) Option { return func(o *options) { o.threads = max(n, 1) } }

// GPU makes Grad compute on the CUDA device of that index (float32
// models; Embed stays on the CPU); -1, the default, is the CPU. New fails
// with an error wrapping ErrNoCUDA when the binary was built without the
// fslcuda tag or the device cannot be used.
func GPU(index int) Option { return func(o *options) { o.gpu = index } }
