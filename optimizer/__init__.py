"""The signal optimizer: a gRPC service that turns detector counts into signal plans."""
