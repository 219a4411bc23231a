package machine

// counters is the machine's internal tally; Counters is its snapshot.
type counters struct {
	Counters
	invalid [numReasons]int
	// expelled counts workers forgotten because they were banned while
	// known (see Machine.ban).
	expelled int
}

// Counters is a snapshot of what the machine has done since New. Every lease
// granted ends exactly one way, so
//
//	Leased == Fulfilled + Expired + Returned + (live leases in Status)
//
// and every result is counted once, so results fed ==
// Applied + Held + Duplicates + LostRaces + InvalidTotal, and Applied ==
// StepsAdvanced * ShardsPerStep + StepApplied + Discarded.
type Counters struct {
	// Leased counts leases granted, backups included.
	Leased int
	// Backups counts backup leases granted.
	Backups int
	// Fulfilled counts leases closed because their shard's result was
	// accepted, whoever sent it.
	Fulfilled int
	// Expired counts leases that reached their deadline first.
	Expired int
	// Returned counts leases taken back from workers that left, rejoined or
	// were lost, and suspects' backups taken back for a proven worker's.
	Returned int

	// Applied counts accepted results over all steps.
	Applied int
	// StepApplied counts accepted results of the steps not yet advanced
	// past: the current step, and with a pipeline the open steps after it.
	StepApplied int
	// StepsAdvanced counts steps completed and advanced past.
	StepsAdvanced int
	// Late counts accepted results whose sender held no live lease on the
	// shard.
	Late int
	// Duplicates counts valid results for shards already done.
	Duplicates int
	// LostRaces counts copies of recent steps' shards from workers
	// whose leases on them lost the race (Outcome Lost): hedged backups and
	// slow workers in a healthy run.
	LostRaces int
	// Invalid counts dropped invalid results by reason; reasons never seen
	// are absent.
	Invalid map[Reason]int
	// InvalidTotal is the sum of Invalid.
	InvalidTotal int

	// WorkersJoined counts workers registered (by any event) while unknown.
	WorkersJoined int
	// WorkersLeft counts workers that left.
	WorkersLeft int
	// WorkersLost counts workers silent for HeartbeatTimeout.
	WorkersLost int

	// Quarantines counts quarantines begun (see Config.QuarantineAfter); an
	// extension of a running one is not counted again.
	Quarantines int
	// Verified results (Config.Verify). Held counts copies of verified
	// shards kept for comparison (the second agreeing copy is Applied);
	// Checks counts verified shards settled by two agreeing copies;
	// Mismatches counts copies that differed from a kept or settled one;
	// Bans counts workers banned.
	Held, Checks, Mismatches, Bans int
	// Rollbacks counts rewinds to an earlier checkpoint after a ban;
	// StepsRolledBack the steps they discarded; Discarded the accepted
	// results of the interrupted steps they threw away.
	Rollbacks, StepsRolledBack, Discarded int

	// Refused counts work requests answered Wait, though a shard was free,
	// because the worker held MaxLeasesPerWorker leases. A request the
	// driver holds (long polling) is asked again at every event, so one
	// held request may count several times.
	Refused int
}

// Counters returns a snapshot of the machine's counters.
func (m *Machine) Counters() Counters {
	c := m.c.Counters
	c.Invalid = make(map[Reason]int)
	c.InvalidTotal = 0
	for r, n := range m.c.invalid {
		if n > 0 {
			c.Invalid[Reason(r)] = n
			c.InvalidTotal += n
		}
	}
	return c
}
