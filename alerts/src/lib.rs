//! Threshold alerts and outgoing billing events. Not built yet.
