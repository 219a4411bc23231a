package transport_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// A coordinator answers parameter requests; a worker fetches a version that
// is larger than the server's max payload, so it travels in chunks.
func Example() {
	srv, err := transport.StartServer(transport.ServerOptions{Token: "secret", MaxPayload: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	subj, err := wire.NewSubjects("demo")
	if err != nil {
		log.Fatal(err)
	}

	coord, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "coord", Token: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer coord.Close()
	current := &wire.Params{Version: 7, Params: make(params.Vector, 100_000)}
	_, err = coord.Subscribe(subj.Params, func(m wire.Message, reply string) {
		var resp wire.Message = current
		if req, ok := m.(*wire.ParamsRequest); !ok || req.Version != current.Version {
			resp = &wire.Error{Code: wire.CodeStaleVersion, Text: "only version 7 is served"}
		}
		if err := coord.Send(reply, resp); err != nil {
			log.Print(err)
		}
	}, transport.SubscribeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := coord.Flush(); err != nil {
		log.Fatal(err)
	}

	worker, err := transport.Connect(srv.ClientURL(), transport.ConnectOptions{Name: "worker", Token: "secret"})
	if err != nil {
		log.Fatal(err)
	}
	defer worker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := worker.Request(ctx, subj.Params, &wire.ParamsRequest{Version: 7})
	if err != nil {
		log.Fatal(err)
	}
	p := m.(*wire.Params)
	fmt.Println("version", p.Version, "values", len(p.Params))
	// Output: version 7 values 100000
}
