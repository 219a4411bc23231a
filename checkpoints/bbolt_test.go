package checkpoints

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// corruptStored rewrites the stored value of (job, step) through bbolt
// directly, bypassing the store.
func corruptStored(t testing.TB, path, job string, step uint64, mutate func([]byte)) {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: DefaultLockTimeout, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		steps := tx.Bucket(bucketJobs).Bucket([]byte(job)).Bucket(bucketSteps)
		v := append([]byte(nil), steps.Get(stepKey(step))...)
		mutate(v)
		return steps.Put(stepKey(step), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storedValue returns a copy of the stored value of (job, step).
func storedValue(t testing.TB, path, job string, step uint64) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: DefaultLockTimeout, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []byte
	err = db.View(func(tx *bolt.Tx) error {
		out = append(out, tx.Bucket(bucketJobs).Bucket([]byte(job)).Bucket(bucketSteps).Get(stepKey(step))...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
