package main

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/callbackd/callbackd/internal/replay"
)

// replayer checks the replay flags and builds the Replayer they describe.
func (c *ServeFlags) replayer() (*replay.Replayer, []error) {
	var problems []error
	cfg := replay.Config{Disabled: c.NoReplay, Timeout: c.ReplayTimeout}
	for _, cidr := range c.ReplayAllow {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			// A bare address is a range of one.
			a, aerr := netip.ParseAddr(cidr)
			if aerr != nil {
				problems = append(problems, fmt.Errorf("--replay-allow %q: want a CIDR range such as 127.0.0.0/8: %w", cidr, err))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		cfg.Allow = append(cfg.Allow, p)
	}
	if c.ReplayTimeout <= 0 {
		problems = append(problems, errors.New("--replay-timeout: must be positive"))
	}
	if len(problems) > 0 {
		return nil, problems
	}
	r, err := replay.New(cfg)
	if err != nil {
		return nil, []error{err}
	}
	return r, nil
}
