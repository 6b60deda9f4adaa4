//! Usage events: parsing, exactly-once ingestion and time-bucketed rollups. Not built yet: see the Metering issue.
