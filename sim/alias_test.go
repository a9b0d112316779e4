package sim

import "github.com/flockvm/flock/netmodel"

type (
	Receiver     = netmodel.Receiver
	ReceiverFunc = netmodel.ReceiverFunc
)
