package params

// Result is one shard's answer: the gradient of the shard's mean loss with
// respect to parameters of Version, the batch's running statistics, the
// mean loss and the number of terms it averages over.
//
// The model fills the computed fields (Grads, Stats, Loss, Count); the
// worker addresses it (Worker, Step, Shard, Version, LayoutHash) before the
// wire carries it to the coordinator, whose state machine validates and
// keeps it. A holder must not modify Grads or Stats after passing a Result
// on: nobody copies them.
type Result struct {
	// Worker is the ID the coordinator gave the worker at join.
	Worker string
	// Step, Shard and Version echo the lease the result answers.
	Step    int
	Shard   int
	Version int
	// Lineage echoes the lease's too: how many rollbacks the job's
	// parameters had been through (see the coordinator's verified results).
	// Parameters are one value per (Lineage, Version); a result computed
	// from parameters a rollback discarded is invalid.
	Lineage uint64
	// LayoutHash identifies the layout Grads follows (Layout.Hash).
	LayoutHash uint64

	// Grads is the gradient of Loss with respect to the parameters, laid
	// out like them. Shards are weighted by Count when merged.
	Grads Vector
	// Stats holds the batch's batch-norm statistics in the model's state
	// layout (per block the per-channel mean and unbiased variance).
	Stats Vector
	// Loss is the batch's mean loss.
	Loss float64
	// Count is the number of terms Loss averages over: triplets, pairs or
	// query images.
	Count int
}
