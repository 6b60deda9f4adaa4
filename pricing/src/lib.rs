//! Plan catalogue, rate cards and pricing modes: pure, exact decimal arithmetic, no I/O. Not built yet: see the Pricing issue.
