package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// testClient is a client of the e2e job built on fsl's own wire package,
// with the job's token: what the hoarders and the cheater are made of.
type testClient struct {
	ctx  context.Context
	id   string
	nc   *transport.Conn
	subj wire.Subjects
}

// dialClient connects to the job's server at url as id; the caller closes
// cl.nc.
func dialClient(ctx context.Context, url, id string) (*testClient, error) {
	nc, err := transport.Connect(url, transport.ConnectOptions{Name: id, Token: testToken, RetryOnFailedConnect: true})
	if err != nil {
		return nil, err
	}
	subj, _ := wire.NewSubjects(testJob)
	return &testClient{ctx: ctx, id: id, nc: nc, subj: subj}, nil
}

// request asks subject, waiting at most 5s (and no longer than ctx).
func (c *testClient) request(subject string, m wire.Message) (wire.Message, error) {
	rctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return c.nc.Request(rctx, subject, m)
}

// heartbeat starts heartbeats every 400ms, well within the job's 2s
// heartbeat timeout, until ctx ends.
func (c *testClient) heartbeat() {
	go func() {
		t := time.NewTicker(400 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.ctx.Done():
				return
			case <-t.C:
				c.nc.Send(c.subj.Heartbeat, &wire.Heartbeat{Worker: c.id}) //nolint:errcheck // best effort, like an attacker
			}
		}
	}()
}

// join joins the job, retrying while the coordinator is not up (bounded),
// builds the job's model from the join-ack and computes the job's canary
// with it: what a client needs to be admitted as a worker. A refused join
// (banned) returns the refusal.
func (c *testClient) join() (*wire.JoinAck, *model.Model, string, error) {
	var ack *wire.JoinAck
	for attempt := 0; ack == nil; attempt++ {
		reply, err := c.request(c.subj.Join, &wire.Join{Worker: c.id, ID: c.id, Threads: 1, GPU: -1, Version: "test client"})
		if errors.Is(err, wire.ErrBanned) {
			return nil, nil, "", err
		}
		if err == nil {
			ack, _ = reply.(*wire.JoinAck)
		}
		if ack == nil && (c.ctx.Err() != nil || attempt == 100) {
			return nil, nil, "", fmt.Errorf("join: %v (reply %v)", err, reply)
		}
		if ack == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	var mc model.Config
	if err := json.Unmarshal(ack.Spec, &mc); err != nil {
		return nil, nil, "", err
	}
	m, err := model.New(mc)
	if err != nil {
		return nil, nil, "", err
	}
	canary, err := m.Canary()
	if err != nil {
		return nil, nil, "", err
	}
	return ack, m, canary, nil
}
