package machine_test

import (
	"fmt"
	"time"

	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/params"
)

// A driver feeds the machine events with the time they happened and acts on
// what Ready returns. Here one worker does a two-step job of two shards.
func Example() {
	m, err := machine.New(machine.Config{
		Job: "demo", ShardsPerStep: 2, TotalSteps: 2, GradLen: 3, LayoutHash: 42,
		LeaseTimeout: 30 * time.Second, HeartbeatTimeout: 10 * time.Second, RetryAfter: 200 * time.Millisecond,
	}, 0)
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	act := func() {
		// Advance queues more outputs: act until there are none.
		for m.HasReady() {
			for _, o := range m.Ready() {
				switch o := o.(type) {
				case machine.StepComplete:
					fmt.Println("step", o.Step, "complete with", len(o.Results), "results")
					// Aggregate o.Results in order, run the optimizer, then:
					if err := m.Advance(o.Version + 1); err != nil {
						panic(err)
					}
				case machine.CheckpointDue:
					fmt.Println("checkpoint version", o.Version)
				case machine.JobDone:
					fmt.Println("job done at version", o.Version)
				}
			}
		}
	}
	act()
	_ = m.Join("w1", now)
	for {
		now = now.Add(time.Second)
		reply, _ := m.RequestWork("w1", now)
		l, ok := reply.(machine.Lease)
		if !ok {
			fmt.Printf("worker told %T\n", reply)
			break
		}
		v := m.Result(params.Result{
			Worker: "w1", Step: l.Step, Shard: l.Shard, Version: l.Version,
			LayoutHash: 42, Grads: params.Vector{0.1, 0.2, 0.3}, Loss: 0.7, Count: 16,
		}, now)
		fmt.Println("shard", l.Shard, "of step", l.Step, v.Outcome)
		act()
	}
	// Output:
	// shard 0 of step 0 accepted
	// shard 1 of step 0 accepted
	// step 0 complete with 2 results
	// shard 0 of step 1 accepted
	// shard 1 of step 1 accepted
	// step 1 complete with 2 results
	// checkpoint version 2
	// job done at version 2
	// worker told machine.Done
}
