package episodes

// ImageRef names one image as a class presents it: class index in the
// dataset and image index within the class (rotation included, see
// Dataset.ClassImage).
type ImageRef struct{ Class, Image int }

// EpisodeRefs returns the images of evaluation episode i of seed, in the
// order and with the labels Episode would render them, without copying
// pixels: an evaluation can embed every image once and look episodes up.
func (e *EvalSampler) EpisodeRefs(seed uint64, i int) ([]ImageRef, []int32) {
	p := e.s.plan(newRNG(domainEval, seed, uint64(i)))
	refs := make([]ImageRef, len(p.refs))
	for k, r := range p.refs {
		refs[k] = ImageRef{Class: r.class, Image: r.image}
	}
	return refs, p.labels
}

// Config is the episode shape the sampler draws.
func (e *EvalSampler) Config() SamplerConfig { return e.s.cfg }
