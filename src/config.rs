//! Process configuration from the contract's environment variables, with errors that name them.

use std::net::SocketAddr;
use std::time::Duration;

/// A configuration problem, naming the variable and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn err(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// Where the environment comes from; tests pass a map instead of the process environment.
pub trait Env {
    fn get(&self, var: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, var: &str) -> Option<String> {
        std::env::var(var).ok().filter(|v| !v.trim().is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, var: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.to_string())
    }
}

#[derive(Clone, Debug)]
pub struct DbConfig {
    pub url: String,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct KafkaConfig {
    pub brokers: String,
    pub usage_topic: String,
    pub dlq_topic: String,
    pub billing_events_topic: String,
    pub group: String,
}

#[derive(Clone, Debug)]
pub struct StripeConfig {
    pub secret_key: String,
    pub webhook_secret: Option<String>,
    pub api_base: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub owner_token: String,
    pub kafka: Option<KafkaConfig>,
    pub stripe: Option<StripeConfig>,
    /// Instances sharing the load; each enforces 1/N of a rate limit.
    pub instances: u32,
    /// Months of raw usage events kept (native partitions; TimescaleDB keeps 400 days).
    pub raw_retention_months: i32,
}

/// Upper bound on connections a single instance opens; several instances share the server.
const MAX_POOL_SIZE: u32 = 200;
const MIN_OWNER_TOKEN_LEN: usize = 16;

pub fn db(env: &impl Env) -> Result<DbConfig, ConfigError> {
    let url = env.get("DATABASE_URL").ok_or_else(|| {
        err(
            "DATABASE_URL",
            "required: a PostgreSQL URL such as postgres://user@127.0.0.1:5432/tally",
        )
    })?;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(err(
            "DATABASE_URL",
            "must start with postgres:// or postgresql://",
        ));
    }
    let pool_size = parse_num(env, "TALLY_DB_POOL_SIZE", 16)?;
    if pool_size == 0 || pool_size > u64::from(MAX_POOL_SIZE) {
        return Err(err(
            "TALLY_DB_POOL_SIZE",
            format!("must be between 1 and {MAX_POOL_SIZE}"),
        ));
    }
    let acquire_timeout_ms = parse_num(env, "TALLY_DB_ACQUIRE_TIMEOUT_MS", 5_000)?;
    Ok(DbConfig {
        url,
        pool_size: pool_size as u32,
        acquire_timeout: Duration::from_millis(acquire_timeout_ms),
    })
}

pub fn serve(env: &impl Env) -> Result<ServeConfig, ConfigError> {
    let listen_raw = env
        .get("TALLY_LISTEN")
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen = listen_raw.parse().map_err(|_| {
        err(
            "TALLY_LISTEN",
            format!("'{listen_raw}' is not a socket address like 127.0.0.1:8080"),
        )
    })?;
    let owner_token = env.get("TALLY_OWNER_TOKEN").ok_or_else(|| {
        err(
            "TALLY_OWNER_TOKEN",
            "required for serve: the owner's bearer token",
        )
    })?;
    if owner_token.len() < MIN_OWNER_TOKEN_LEN {
        return Err(err(
            "TALLY_OWNER_TOKEN",
            format!("must be at least {MIN_OWNER_TOKEN_LEN} characters"),
        ));
    }
    let instances = parse_num(env, "TALLY_INSTANCES", 1)?;
    if !(1..=1_000).contains(&instances) {
        return Err(err("TALLY_INSTANCES", "must be between 1 and 1000"));
    }
    let retention = parse_num(env, "TALLY_RAW_RETENTION_MONTHS", 13)?;
    if !(2..=1_200).contains(&retention) {
        return Err(err(
            "TALLY_RAW_RETENTION_MONTHS",
            "must be between 2 and 1200 (dedupe keys expire through raw events 40 days old)",
        ));
    }
    Ok(ServeConfig {
        listen,
        owner_token,
        kafka: kafka(env),
        stripe: stripe(env),
        instances: instances as u32,
        raw_retention_months: retention as i32,
    })
}

pub fn kafka(env: &impl Env) -> Option<KafkaConfig> {
    let brokers = env.get("KAFKA_BROKERS")?;
    let or = |var: &str, default: &str| env.get(var).unwrap_or_else(|| default.to_string());
    Some(KafkaConfig {
        brokers,
        usage_topic: or("KAFKA_USAGE_TOPIC", "usage-events"),
        dlq_topic: or("KAFKA_DLQ_TOPIC", "usage-events-dlq"),
        billing_events_topic: or("KAFKA_BILLING_EVENTS_TOPIC", "billing-events"),
        group: or("KAFKA_GROUP", "tally-metering"),
    })
}

pub fn stripe(env: &impl Env) -> Option<StripeConfig> {
    Some(StripeConfig {
        secret_key: env.get("STRIPE_SECRET_KEY")?,
        webhook_secret: env.get("STRIPE_WEBHOOK_SECRET"),
        api_base: env.get("STRIPE_API_BASE"),
    })
}

fn parse_num(env: &impl Env, var: &'static str, default: u64) -> Result<u64, ConfigError> {
    match env.get(var) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| err(var, format!("'{raw}' is not a whole number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_database_url_names_the_variable() {
        let e = db(&[("X", "y")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let e = db(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
        let e = db(&[
            ("DATABASE_URL", "postgres://x"),
            ("TALLY_DB_POOL_SIZE", "many"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "TALLY_DB_POOL_SIZE");
        let e = serve(&[
            ("TALLY_LISTEN", "nowhere"),
            ("TALLY_OWNER_TOKEN", "0123456789abcdef"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "TALLY_LISTEN");
        let e = serve(&[("TALLY_OWNER_TOKEN", "short")]).unwrap_err();
        assert_eq!(e.var, "TALLY_OWNER_TOKEN");
        // Dedupe keys expire through raw events 40 days old: under 2 months is refused.
        let e = serve(&[
            ("TALLY_OWNER_TOKEN", "0123456789abcdef"),
            ("TALLY_RAW_RETENTION_MONTHS", "1"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "TALLY_RAW_RETENTION_MONTHS");
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = serve(&[
            ("TALLY_OWNER_TOKEN", "0123456789abcdef"),
            ("KAFKA_BROKERS", "127.0.0.1:9092"),
        ])
        .unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        let k = c.kafka.unwrap();
        assert_eq!(
            (k.usage_topic.as_str(), k.dlq_topic.as_str()),
            ("usage-events", "usage-events-dlq")
        );
        assert_eq!(
            (k.billing_events_topic.as_str(), k.group.as_str()),
            ("billing-events", "tally-metering")
        );
        assert!(c.stripe.is_none());
        assert_eq!(c.raw_retention_months, 13);
    }
}
