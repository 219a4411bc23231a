package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// notifyInterrupt returns a context that the first SIGINT or SIGTERM ends,
// and got, which reports that signal (nil before one came). After the
// first, the signals' default action is back, so a second Ctrl-C ends the
// process at once. stop releases the signals.
func notifyInterrupt(parent context.Context) (ctx context.Context, got func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var (
		mu  sync.Mutex
		sig os.Signal
	)
	go func() {
		select {
		case s := <-ch:
			signal.Stop(ch)
			mu.Lock()
			sig = s
			mu.Unlock()
			cancel()
		case <-ctx.Done():
		}
	}()
	got = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return sig
	}
	return ctx, got, func() { signal.Stop(ch); cancel() }
}

// exitCodeOf is the conventional exit status after signal sig: 128 + its
// number (130 for SIGINT, 143 for SIGTERM).
func exitCodeOf(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// signalName is "SIGINT" or "SIGTERM" (what users know them by).
func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}
