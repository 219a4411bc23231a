//go:build !race

package episodes

const raceEnabled = false
