//! Tally: metering, pricing, a double-entry token ledger, quotas, invoices and Stripe sync,
//! wired into one binary. This crate is the wiring: CLI, HTTP API, configuration.

pub mod alerting;
pub mod api;
pub mod apikeys;
pub mod bench;
pub mod catalogue;
pub mod charging;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod ingest;
pub mod quota;
pub mod ratelimit;
pub mod serve;
pub mod telemetry;
pub mod tenants;
