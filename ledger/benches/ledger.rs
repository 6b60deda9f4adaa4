//! Ledger benchmark (placeholder until written).
fn main() {}
