package machine

// MaxPipeline is the deepest pipeline a job may ask for (Config.Pipeline, the job spec's pipeline):
// each step of depth keeps one more parameter version in the coordinator,
// in each checkpoint and possibly in each worker, and delays every
// gradient by one more step.
const MaxPipeline = 4

// LagVersion is the parameter version step's gradients are computed
// from: step − k for a pipeline of depth k (Config.Pipeline), and version
// 0 for the first k steps.
func LagVersion(step, pipeline int) int { return max(0, step-pipeline) }
