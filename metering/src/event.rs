//! The usage event as a parsed type: every rule of the contract's "Usage events" holds once
//! `UsageEvent::parse` returned it.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// Longest accepted event id (the producer's idempotency key).
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Longest accepted tenant id.
pub const MAX_TENANT_ID_CHARS: usize = 128;
/// Longest accepted subject.
pub const MAX_SUBJECT_CHARS: usize = 256;
/// Longest accepted `properties.service`.
pub const MAX_SERVICE_CHARS: usize = 128;
/// Largest accepted `properties` object, serialized.
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;
/// Oldest accepted event, relative to the supplied `now`.
pub const MAX_EVENT_AGE_DAYS: i64 = 35;
/// Furthest accepted event in the future, relative to the supplied `now`.
pub const MAX_EVENT_SKEW_SECONDS: i64 = 300;

/// A validation failure that names the offending field, e.g. `{field: "quantity", message: ...}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// A string's length in characters, and whether it holds a control character. ASCII text (all
/// of it, in practice: ids, codes) takes one pass over the bytes; the same answers either way,
/// since an ASCII control character is a byte below 0x20 or 0x7f.
fn chars_and_controls(s: &str) -> (usize, bool) {
    if s.is_ascii() {
        // A fold without an early exit, which the compiler vectorises.
        let controls = s
            .bytes()
            .fold(false, |seen, b| seen | (b < 0x20) | (b == 0x7f));
        (s.len(), controls)
    } else {
        (s.chars().count(), s.chars().any(char::is_control))
    }
}

fn text(field: &str, raw: &str, max_chars: usize) -> Result<String, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let (chars, controls) = chars_and_controls(raw);
    if chars > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if controls {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(raw.to_owned())
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A tenant id: 1..=128 characters, no control characters.
    TenantId
);
string_newtype!(
    /// A producer-chosen event id, the idempotency key within a tenant: 1..=128 characters.
    EventId
);
string_newtype!(
    /// A meter code: `[a-z][a-z0-9_]{0,63}`.
    MeterCode
);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        text("tenant", raw, MAX_TENANT_ID_CHARS).map(TenantId)
    }
}

impl EventId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        text("id", raw, MAX_EVENT_ID_CHARS).map(EventId)
    }
}

impl MeterCode {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !first_ok || !rest_ok || raw.len() > 64 {
            return Err(FieldError::new(
                "meter",
                "must match [a-z][a-z0-9_]* and be at most 64 characters",
            ));
        }
        Ok(MeterCode(raw.to_owned()))
    }
}

/// An ISO 3166-1 alpha-2 country code, uppercase (`"IN"`, `"US"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region([u8; 2]);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bytes = raw.as_bytes();
        let upper = bytes.len() == 2 && bytes.iter().all(u8::is_ascii_uppercase);
        if !upper || isocountry::CountryCode::for_alpha2(raw).is_err() {
            return Err(FieldError::new(
                "region",
                "must be an uppercase ISO 3166-1 alpha-2 country code",
            ));
        }
        Ok(Region([bytes[0], bytes[1]]))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-negative decimal, parsed from a JSON string or number without passing through floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

impl Quantity {
    pub fn parse(field: &str, value: &Value) -> Result<Self, FieldError> {
        match value {
            Value::String(s) => Self::parse_text(field, s),
            Value::Number(n) => Self::parse_number(field, n),
            _ => Err(FieldError::new(field, "must be a decimal string or number")),
        }
    }

    /// A JSON number: serde_json prints it with its shortest exact representation; read
    /// those digits.
    fn parse_number(field: &str, n: &Number) -> Result<Self, FieldError> {
        Self::parse_text(field, &n.to_string())
    }

    /// A decimal string (surrounding whitespace ignored).
    fn parse_text(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let parsed = Decimal::from_str(raw)
            .or_else(|_| Decimal::from_scientific(raw))
            .map_err(|_| FieldError::new(field, format!("`{raw}` is not a decimal number")))?;
        if parsed.is_sign_negative() && !parsed.is_zero() {
            return Err(FieldError::new(field, "must not be negative"));
        }
        Ok(Quantity(parsed.normalize()))
    }

    pub fn from_decimal(value: Decimal) -> Option<Self> {
        (!value.is_sign_negative() || value.is_zero()).then_some(Quantity(value.normalize()))
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

/// One usage event, valid by construction.
#[derive(Debug, Clone)]
pub struct UsageEvent {
    pub(crate) id: EventId,
    pub(crate) tenant: TenantId,
    pub(crate) subject: String,
    pub(crate) meter: MeterCode,
    pub(crate) quantity: Quantity,
    pub(crate) time: DateTime<Utc>,
    pub(crate) region: Option<Region>,
    /// `properties` as a map: built by the `Value` path, and on first use from
    /// `properties_json` on the typed fast path (which never needs it to count an event,
    /// unless a unique_count meter counts a property).
    pub(crate) properties: OnceLock<Map<String, Value>>,
    /// `properties` as the JSON object text stored with the raw event (as jsonb, which
    /// normalises it): compact JSON from the `Value` path; the producer's own text from the
    /// fast path.
    pub(crate) properties_json: String,
    /// `properties.service`, or `""`.
    pub(crate) service: String,
    pub(crate) cost_usd: Option<Quantity>,
}

/// Equal events: equal fields, with `properties` compared as maps (two paths may keep
/// different JSON texts of one object).
impl PartialEq for UsageEvent {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.tenant == other.tenant
            && self.subject == other.subject
            && self.meter == other.meter
            && self.quantity == other.quantity
            && self.time == other.time
            && self.region == other.region
            && self.service == other.service
            && self.cost_usd == other.cost_usd
            && self.properties() == other.properties()
    }
}

fn required<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a Value, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(FieldError::new(field, "is required")),
        Some(v) => Ok(v),
    }
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str, FieldError> {
    value
        .as_str()
        .ok_or_else(|| FieldError::new(field, "must be a string"))
}

fn optional<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

fn parse_time(value: &Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    parse_time_str(string(value, "time")?, now)
}

fn parse_time_str(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FieldError> {
    let time = DateTime::parse_from_rfc3339(raw)
        .map_err(|e| FieldError::new("time", format!("is not RFC 3339: {e}")))?
        .with_timezone(&Utc)
        // PostgreSQL keeps microseconds; comparing at the stored precision everywhere keeps
        // `latest` identical whether two events meet in one batch or in the database.
        .trunc_subsecs(6);
    if time < now - Duration::days(MAX_EVENT_AGE_DAYS) {
        return Err(FieldError::new(
            "time",
            format!("is more than {MAX_EVENT_AGE_DAYS} days in the past"),
        ));
    }
    if time > now + Duration::seconds(MAX_EVENT_SKEW_SECONDS) {
        return Err(FieldError::new(
            "time",
            "is more than 5 minutes in the future",
        ));
    }
    Ok(time)
}

fn parse_properties(obj: &Map<String, Value>) -> Result<Properties, FieldError> {
    match optional(obj, "properties") {
        None => checked_properties(Map::new()),
        Some(Value::Object(map)) => checked_properties(map.clone()),
        Some(_) => Err(FieldError::new("properties", "must be an object")),
    }
}

/// Checked properties: the map (`None` on the fast path, which builds it on first use), the
/// JSON text that is stored, and the service.
struct Properties {
    map: Option<Map<String, Value>>,
    json: String,
    service: String,
}

/// `properties.service`: absent or null, else a string of at most `MAX_SERVICE_CHARS`.
fn checked_service(service: Option<&str>, is_null_or_absent: bool) -> Result<String, FieldError> {
    match service {
        Some(s) if s.chars().count() <= MAX_SERVICE_CHARS => Ok(s.to_owned()),
        None if is_null_or_absent => Ok(String::new()),
        _ => Err(FieldError::new(
            "properties.service",
            format!("must be a string of at most {MAX_SERVICE_CHARS} characters"),
        )),
    }
}

/// Checks an event's properties.
fn checked_properties(props: Map<String, Value>) -> Result<Properties, FieldError> {
    let json = serde_json::to_string(&props)
        .map_err(|e| FieldError::new("properties", format!("cannot be serialized: {e}")))?;
    if json.len() > MAX_PROPERTIES_BYTES {
        return Err(FieldError::new(
            "properties",
            format!("must serialize to at most {MAX_PROPERTIES_BYTES} bytes"),
        ));
    }
    let service = props.get("service");
    let service = checked_service(
        service.and_then(Value::as_str),
        matches!(service, None | Some(Value::Null)),
    )?;
    Ok(Properties {
        map: Some(props),
        json,
        service,
    })
}

/// What the fast path reads of `properties`: only `service` (other members are skipped
/// unparsed). A duplicate `service` or a non-string one fails, and the `Value` path decides.
#[derive(serde::Deserialize)]
struct ServiceOnly<'a> {
    #[serde(borrow, default)]
    service: Option<Cow<'a, str>>,
}

/// Properties text up to this size takes the fast path. The size limit applies to the
/// compact JSON the `Value` path makes, which can be longer than the producer's text: a number
/// goes through `f64` and prints its shortest form (`1e15` becomes `1000000000000000.0`, 4.5
/// times as long); strings and structure never grow. Text within an eighth of the limit is
/// within it either way.
const FAST_PROPERTIES_BYTES: usize = MAX_PROPERTIES_BYTES / 8;

/// The fast path's properties: the producer's object text, kept as is (stored as jsonb, which
/// reads its numbers exactly, where the `Value` path goes through `f64`), when it is an
/// object, its `service` (if any) is a string or null, and the text is at most
/// `FAST_PROPERTIES_BYTES`. `None`: let the `Value` path decide (same outcome, error
/// included).
fn raw_properties(raw: Option<&RawValue>) -> Option<Result<Properties, FieldError>> {
    let Some(raw) = raw else {
        return Some(Ok(Properties {
            map: None,
            json: "{}".to_owned(),
            service: String::new(),
        }));
    };
    let text = raw.get();
    if !text.starts_with('{') || text.len() > FAST_PROPERTIES_BYTES {
        return None;
    }
    let only: ServiceOnly<'_> = serde_json::from_str(text).ok()?;
    let service = match only.service.as_deref() {
        None => Ok(String::new()),
        Some(s) => checked_service(Some(s), false),
    };
    Some(service.map(|service| Properties {
        map: None,
        json: text.to_owned(),
        service,
    }))
}

fn subject_text(s: &str) -> Result<String, FieldError> {
    let (chars, controls) = chars_and_controls(s);
    if chars > MAX_SUBJECT_CHARS || controls {
        return Err(FieldError::new(
            "subject",
            format!("must be at most {MAX_SUBJECT_CHARS} characters, no control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// An event's fields as typed by serde straight from its JSON text, strings borrowed where
/// they have no escapes: the fast path of [`UsageEvent::parse_json`]. JSON `null` reads as
/// absent, as in the `Value` path. Any type mismatch or duplicate field fails the whole
/// deserialisation, and the `Value` path then names the field.
#[derive(serde::Deserialize)]
struct Typed<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tenant: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    subject: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    meter: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    quantity: Option<Decimalish<'a>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    properties: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cost: Option<Decimalish<'a>>,
}

/// A quantity as JSON gave it, a string (borrowed when it has no escapes) or a number;
/// anything else fails the fast path, and the `Value` path names the field.
enum Decimalish<'a> {
    Text(Cow<'a, str>),
    Number(Number),
}

impl Decimalish<'_> {
    fn parse(&self, field: &str) -> Result<Quantity, FieldError> {
        match self {
            Decimalish::Text(s) => Quantity::parse_text(field, s),
            Decimalish::Number(n) => Quantity::parse_number(field, n),
        }
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Decimalish<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Decimalish<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string or number")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Decimalish::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Decimalish::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Decimalish::Text(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Decimalish::Number(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Decimalish::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Number::from_f64(v)
                    .map(Decimalish::Number)
                    .ok_or_else(|| E::custom("not a finite number"))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Typed<'_> {
    /// The same checks, in the same order, as [`UsageEvent::parse`] makes once every field
    /// has its JSON type.
    fn validate(self, now: DateTime<Utc>) -> Option<Result<UsageEvent, FieldError>> {
        // Decided first (declining changes no outcome), checked in its place below.
        let properties = raw_properties(self.properties)?;
        Some(self.validate_with(properties, now))
    }

    fn validate_with(
        self,
        properties: Result<Properties, FieldError>,
        now: DateTime<Utc>,
    ) -> Result<UsageEvent, FieldError> {
        let required = |field: &str| FieldError::new(field, "is required");
        let id = EventId::parse(self.id.as_deref().ok_or_else(|| required("id"))?)?;
        let tenant = TenantId::parse(self.tenant.as_deref().ok_or_else(|| required("tenant"))?)?;
        let subject = match self.subject.as_deref() {
            None => String::new(),
            Some(s) => subject_text(s)?,
        };
        let meter = MeterCode::parse(self.meter.as_deref().ok_or_else(|| required("meter"))?)?;
        let quantity = self
            .quantity
            .as_ref()
            .ok_or_else(|| required("quantity"))?
            .parse("quantity")?;
        let time = parse_time_str(self.time.as_deref().ok_or_else(|| required("time"))?, now)?;
        let region = self.region.as_deref().map(Region::parse).transpose()?;
        let properties = properties?;
        let cost_usd = self.cost.as_ref().map(|v| v.parse("cost")).transpose()?;
        Ok(UsageEvent {
            id,
            tenant,
            subject,
            meter,
            quantity,
            time,
            region,
            properties: properties.map.map_or_else(OnceLock::new, OnceLock::from),
            properties_json: properties.json,
            service: properties.service,
            cost_usd,
        })
    }
}

impl UsageEvent {
    /// Parses and validates one event. `now` anchors the accepted time window
    /// (35 days back, 5 minutes ahead).
    pub fn parse(value: &Value, now: DateTime<Utc>) -> Result<Self, FieldError> {
        let obj = value
            .as_object()
            .ok_or_else(|| FieldError::new("event", "must be a JSON object"))?;
        let id = EventId::parse(string(required(obj, "id")?, "id")?)?;
        let tenant = TenantId::parse(string(required(obj, "tenant")?, "tenant")?)?;
        let subject = match optional(obj, "subject") {
            None => String::new(),
            Some(v) => subject_text(string(v, "subject")?)?,
        };
        let meter = MeterCode::parse(string(required(obj, "meter")?, "meter")?)?;
        let quantity = Quantity::parse("quantity", required(obj, "quantity")?)?;
        let time = parse_time(required(obj, "time")?, now)?;
        let region = optional(obj, "region")
            .map(|v| Region::parse(string(v, "region")?))
            .transpose()?;
        let properties = parse_properties(obj)?;
        let cost_usd = optional(obj, "cost")
            .map(|v| Quantity::parse("cost", v))
            .transpose()?;
        Ok(UsageEvent {
            id,
            tenant,
            subject,
            meter,
            quantity,
            time,
            region,
            properties: properties.map.map_or_else(OnceLock::new, OnceLock::from),
            properties_json: properties.json,
            service: properties.service,
            cost_usd,
        })
    }

    /// Parses raw bytes (a Kafka message value or one HTTP array element's text). Same result,
    /// error included, as `parse` on the bytes' `Value`; most events take a typed fast path
    /// that skips building the `Value` tree.
    pub fn parse_json(bytes: &[u8], now: DateTime<Utc>) -> Result<Self, FieldError> {
        // serde would also read a JSON array into `Typed`, field by field: objects only.
        let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        // UTF-8 is checked once over the whole text (std's check runs a word at a time over
        // ASCII); serde then borrows strings from a `&str` without checking each again. Text
        // that is not UTF-8 takes the `Value` path, which names the error as before.
        if let (true, Ok(text)) = (object, std::str::from_utf8(bytes)) {
            if let Ok(typed) = serde_json::from_str::<Typed<'_>>(text) {
                if let Some(result) = typed.validate(now) {
                    return result;
                }
            }
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| FieldError::new("event", format!("is not valid JSON: {e}")))?;
        Self::parse(&value, now)
    }

    /// `properties` as the JSON text stored with the raw event (as jsonb).
    pub fn properties_json(&self) -> &str {
        &self.properties_json
    }

    pub fn id(&self) -> &EventId {
        &self.id
    }
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    pub fn subject(&self) -> &str {
        &self.subject
    }
    pub fn meter(&self) -> &MeterCode {
        &self.meter
    }
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
    pub fn time(&self) -> DateTime<Utc> {
        self.time
    }
    /// The region the producer gave; `None` means "the tenant's", resolved by the write path.
    pub fn region(&self) -> Option<Region> {
        self.region
    }
    pub fn properties(&self) -> &Map<String, Value> {
        // `properties_json` is a JSON object by construction.
        self.properties
            .get_or_init(|| serde_json::from_str(&self.properties_json).unwrap_or_default())
    }
    /// `properties.service`, or `""` without one.
    pub fn service(&self) -> &str {
        &self.service
    }
    /// The real provider cost in USD, when the producer gave one.
    pub fn cost_usd(&self) -> Option<Decimal> {
        self.cost_usd.map(|c| c.value())
    }
    /// The event back as the contract's JSON (for parking and DLQ payloads).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.as_str().into());
        obj.insert("tenant".into(), self.tenant.as_str().into());
        obj.insert("subject".into(), self.subject.clone().into());
        obj.insert("meter".into(), self.meter.as_str().into());
        obj.insert("quantity".into(), self.quantity.value().to_string().into());
        obj.insert("time".into(), self.time.to_rfc3339().into());
        if let Some(r) = self.region {
            obj.insert("region".into(), r.as_str().into());
        }
        obj.insert(
            "properties".into(),
            Value::Object(self.properties().clone()),
        );
        if let Some(c) = self.cost_usd {
            obj.insert("cost".into(), c.value().to_string().into());
        }
        Value::Object(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The ASCII pass answers as the general one for every ASCII character, alone and among
    /// others, and non-ASCII text takes the general one.
    #[test]
    fn ascii_length_and_control_check_match_the_general_one() {
        let general = |s: &str| (s.chars().count(), s.chars().any(char::is_control));
        for b in 0_u8..128 {
            let c = char::from(b);
            for s in [c.to_string(), format!("evt-{c}-42"), format!("{c}{c}")] {
                assert_eq!(chars_and_controls(&s), general(&s), "{b:#x}");
            }
        }
        for s in ["héllo", "a\u{85}b", "日本語", "x\u{7f}", "tab\there", ""] {
            assert_eq!(chars_and_controls(s), general(s), "{s:?}");
        }
        assert_eq!(chars_and_controls("a\u{85}b"), (3, true));
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn base() -> Value {
        json!({"id": "evt-7f3a", "tenant": "acme", "subject": "user-42", "meter": "ai_tokens",
               "quantity": "1250", "time": "2026-11-21T10:00:00Z", "region": "IN",
               "properties": {"service": "content-maker", "model": "claude"}, "cost": "0.0031"})
    }

    /// Applies `edit` to the contract's example and expects `Ok` or an error naming `field`.
    fn check(edit: impl FnOnce(&mut Map<String, Value>), expect_field: Option<&str>) {
        let mut v = base();
        edit(v.as_object_mut().unwrap());
        let got = UsageEvent::parse(&v, now());
        same_both_ways(v.to_string().as_bytes());
        match (got, expect_field) {
            (Ok(_), None) => {}
            (Err(e), Some(f)) => assert_eq!(e.field, f, "{e}"),
            (got, want) => panic!("{v}: got {got:?}, wanted error on {want:?}"),
        }
    }

    #[test]
    fn contract_example_parses() {
        let e = UsageEvent::parse(&base(), now()).unwrap();
        assert_eq!(e.id().as_str(), "evt-7f3a");
        assert_eq!(e.quantity().value(), Decimal::from(1250));
        assert_eq!(e.service(), "content-maker");
        assert_eq!(e.region().unwrap().as_str(), "IN");
        assert_eq!(e.cost_usd(), Some(Decimal::from_str("0.0031").unwrap()));
        assert_eq!(UsageEvent::parse(&e.to_json(), now()).unwrap(), e);
    }

    #[test]
    fn field_rules() {
        check(
            |o| {
                o.remove("subject");
            },
            None,
        );
        check(
            |o| {
                o.remove("region");
            },
            None,
        );
        check(
            |o| {
                o.remove("properties");
            },
            None,
        );
        check(
            |o| {
                o.remove("cost");
            },
            None,
        );
        check(
            |o| {
                o.insert("quantity".into(), json!(12.5));
            },
            None,
        );
        check(
            |o| {
                o.insert("quantity".into(), json!("1e3"));
            },
            None,
        );
        check(
            |o| {
                o.insert("quantity".into(), json!("0"));
            },
            None,
        );
        check(
            |o| {
                o.insert("time".into(), json!("2026-10-17T12:00:01Z"));
            },
            None,
        );
        check(
            |o| {
                o.insert("time".into(), json!("2026-11-21T12:05:00+00:00"));
            },
            None,
        );
        check(
            |o| {
                o.insert("id".into(), json!("x".repeat(128)));
            },
            None,
        );
        check(
            |o| {
                o.remove("id");
            },
            Some("id"),
        );
        check(
            |o| {
                o.insert("id".into(), json!(""));
            },
            Some("id"),
        );
        check(
            |o| {
                o.insert("id".into(), json!("x".repeat(129)));
            },
            Some("id"),
        );
        check(
            |o| {
                o.insert("id".into(), json!(7));
            },
            Some("id"),
        );
        check(
            |o| {
                o.remove("tenant");
            },
            Some("tenant"),
        );
        check(
            |o| {
                o.insert("meter".into(), json!("AI tokens"));
            },
            Some("meter"),
        );
        check(
            |o| {
                o.insert("quantity".into(), json!("-1"));
            },
            Some("quantity"),
        );
        check(
            |o| {
                o.insert("quantity".into(), json!(-0.5));
            },
            Some("quantity"),
        );
        check(
            |o| {
                o.insert("quantity".into(), json!("ten"));
            },
            Some("quantity"),
        );
        check(
            |o| {
                o.insert("quantity".into(), json!(null));
            },
            Some("quantity"),
        );
        check(
            |o| {
                o.insert("time".into(), json!("2026-10-17T11:59:59Z"));
            },
            Some("time"),
        );
        check(
            |o| {
                o.insert("time".into(), json!("2026-11-21T12:05:01Z"));
            },
            Some("time"),
        );
        check(
            |o| {
                o.insert("time".into(), json!("21/11/2026"));
            },
            Some("time"),
        );
        check(
            |o| {
                o.insert("region".into(), json!("in"));
            },
            Some("region"),
        );
        check(
            |o| {
                o.insert("region".into(), json!("XX"));
            },
            Some("region"),
        );
        check(
            |o| {
                o.insert("region".into(), json!("IND"));
            },
            Some("region"),
        );
        check(
            |o| {
                o.insert("properties".into(), json!([1]));
            },
            Some("properties"),
        );
        check(
            |o| {
                o.insert("properties".into(), json!({"service": 3}));
            },
            Some("properties.service"),
        );
        check(
            |o| {
                o.insert("cost".into(), json!("-0.01"));
            },
            Some("cost"),
        );
        check(
            |o| {
                o.insert("subject".into(), json!(42));
            },
            Some("subject"),
        );
    }

    #[test]
    fn numbers_never_pass_through_floats() {
        let mut v = base();
        v["quantity"] = serde_json::from_str("0.1").unwrap();
        assert_eq!(
            UsageEvent::parse(&v, now())
                .unwrap()
                .quantity()
                .value()
                .to_string(),
            "0.1"
        );
        v["quantity"] = serde_json::from_str("123456789012345678").unwrap();
        assert_eq!(
            UsageEvent::parse(&v, now())
                .unwrap()
                .quantity()
                .value()
                .to_string(),
            "123456789012345678"
        );
    }

    /// The typed fast path of `parse_json` answers exactly as `parse` on the `Value`.
    fn same_both_ways(text: &[u8]) {
        let fast = UsageEvent::parse_json(text, now());
        let slow = serde_json::from_slice::<Value>(text)
            .map_err(|e| FieldError::new("event", format!("is not valid JSON: {e}")))
            .and_then(|v| UsageEvent::parse(&v, now()));
        assert_eq!(fast, slow, "{}", String::from_utf8_lossy(text));
    }

    #[test]
    fn fast_path_matches_value_path() {
        let cases: [&str; 12] = [
            r#"{"id":"a\u0062c","tenant":"t\"1","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z"}"#,
            r#" {"id":"x","tenant":"t","meter":"api_calls","quantity":5,"time":"2026-11-21T10:00:00Z","subject":null,"region":null,"properties":null,"cost":null}"#,
            r#"{"id":"x","id":"y","tenant":"t","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z"}"#,
            r#"["x","t","s","api_calls","5","2026-11-21T10:00:00Z",null,null,null]"#,
            r#"{"id":"x","tenant":"t","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z","extra":{"a":[1,2]}}"#,
            r#"{"id":"x","tenant":7,"meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z"}"#,
            r#"{"id":"","tenant":"t","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z"}"#,
            r#"{"id":"x","tenant":"t","meter":"api_calls","quantity":"-1","time":"2026-11-21T10:00:00Z"}"#,
            r#"{"id":"x","tenant":"t","meter":"api_calls","quantity":1e400,"time":"2026-11-21T10:00:00Z"}"#,
            r#"{"id":"x","tenant":"t","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z","properties":{"service":"a","service":"b"}}"#,
            r#"{"id":"x","tenant":"t","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z","properties":[1]}"#,
            r#"{"tenant":"t","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z","properties":{"service":"a"}}"#,
        ];
        for c in cases {
            same_both_ways(c.as_bytes());
        }
        let e = UsageEvent::parse_json(cases[0].as_bytes(), now()).unwrap();
        assert_eq!((e.id().as_str(), e.tenant().as_str()), ("abc", "t\"1"));
        assert_eq!(e.properties_json(), "{}");
    }

    /// The fast path keeps the producer's properties text; the outcome (map, service, error)
    /// is the `Value` path's, also where it declines (escapes, duplicates, wrong types, size).
    #[test]
    fn fast_path_properties_match_value_path() {
        let head = r#"{"id":"x","tenant":"t","meter":"api_calls","quantity":"5","time":"2026-11-21T10:00:00Z","properties":"#;
        let long = "y".repeat(MAX_SERVICE_CHARS + 1);
        let near_limit = format!(
            r#"{{"service":"s","pad":"{}"}}"#,
            "p".repeat(MAX_PROPERTIES_BYTES - 40)
        );
        let over_limit = format!(r#"{{"pad":"{}"}}"#, "p".repeat(MAX_PROPERTIES_BYTES));
        // 1e15 is 4 bytes here and 18 in compact JSON (through f64): over the limit there.
        let grows = format!(
            r#"{{"n":[{}]}}"#,
            vec!["1e15"; MAX_PROPERTIES_BYTES / 10].join(",")
        );
        let properties = [
            r#"{ "service" : "svc" , "model": {"name": "m", "n": [1, 2.5, 1e2]} }"#,
            r#"{"service":"s\u0076c"}"#,
            r#"{"serv\u0069ce":"svc"}"#,
            r#"{"service":null,"x":1}"#,
            r#"{"service":3}"#,
            r#"{"service":"a","other":"b","other":"c"}"#,
            r#"{}"#,
            r#""text""#,
            &format!(r#"{{"service":"{long}"}}"#),
            &near_limit,
            &over_limit,
            &grows,
        ];
        for p in properties {
            same_both_ways(format!("{head}{p}}}").as_bytes());
        }
        let e =
            UsageEvent::parse_json(format!("{head}{}}}", properties[0]).as_bytes(), now()).unwrap();
        assert_eq!(e.service(), "svc");
        assert_eq!(e.properties_json(), properties[0]);
        assert_eq!(e.properties()["model"]["name"], "m");
        assert!(UsageEvent::parse_json(format!("{head}{grows}}}").as_bytes(), now()).is_err());
        assert!(UsageEvent::parse_json(format!("{head}{near_limit}}}").as_bytes(), now()).is_ok());
    }

    #[test]
    fn garbage_is_named() {
        assert_eq!(
            UsageEvent::parse_json(b"{not json", now())
                .unwrap_err()
                .field,
            "event"
        );
        assert_eq!(
            UsageEvent::parse_json(b"[1]", now()).unwrap_err().field,
            "event"
        );
    }
}
