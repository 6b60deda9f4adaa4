//! Property-based test suites that span Tally's crates; the suites live in `tests/`.
