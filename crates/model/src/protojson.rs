//! Protojson scalar encodings shared by all wire types: timestamps, durations, int64-as-string.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, serialized as an RFC 3339 string in UTC with microsecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time, truncated to microseconds (the precision the database keeps).
    pub fn now() -> Self {
        Self::from_micros(Self::micros_of(OffsetDateTime::now_utc()))
    }
    fn micros_of(t: OffsetDateTime) -> i64 {
        (t.unix_timestamp_nanos() / 1000) as i64
    }
    /// Microseconds since the Unix epoch: the form stored in index columns.
    pub fn as_micros(&self) -> i64 {
        Self::micros_of(self.0)
    }
    /// The inverse of [`Timestamp::as_micros`].
    pub fn from_micros(us: i64) -> Self {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Timestamp(t)
    }
    /// Parses an RFC 3339 string.
    pub fn parse(s: &str) -> Result<Self, String> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Timestamp::from_micros(Self::micros_of(t)))
            .map_err(|e| format!("`{s}` is not an RFC 3339 timestamp ({e})"))
    }
    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }
    /// This time plus a number of milliseconds.
    pub fn plus_millis(&self, ms: i64) -> Self {
        Timestamp::from_micros(self.as_micros() + ms * 1000)
    }

    /// This time plus `secs` seconds.
    pub fn plus_seconds(&self, secs: i64) -> Self {
        Timestamp(self.0 + time::Duration::seconds(secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(de::Error::custom)
    }
}

/// A protobuf duration, serialized as `"<seconds>s"` (e.g. `"3600s"`, `"1.5s"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    /// Whole seconds.
    pub seconds: i64,
    /// Additional nanoseconds, 0..1e9.
    pub nanos: i32,
}

impl Duration {
    /// A duration of whole seconds.
    pub fn from_secs(seconds: i64) -> Self {
        Duration { seconds, nanos: 0 }
    }
    /// Parses the protojson form (`"3600s"`, `"0.5s"`, `"-2s"`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let err =
            || format!("`{s}` is not a duration; use seconds with an `s` suffix, like \"3600s\"");
        let body = s.strip_suffix('s').ok_or_else(err)?;
        let (neg, body) = match body.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let (whole, frac) = match body.split_once('.') {
            Some((w, f)) => (w, f),
            None => (body, ""),
        };
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 9
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let seconds: i64 = whole.parse().map_err(|_| err())?;
        if seconds > 315_576_000_000 {
            return Err(format!("duration `{s}` is longer than 10,000 years"));
        }
        let nanos: i32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().map_err(|_| err())?
        };
        Ok(if neg {
            Duration {
                seconds: -seconds,
                nanos: -nanos,
            }
        } else {
            Duration { seconds, nanos }
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            write!(f, "{}s", self.seconds)
        } else {
            let sign = if self.seconds < 0 || self.nanos < 0 {
                "-"
            } else {
                ""
            };
            let frac = format!("{:09}", self.nanos.unsigned_abs());
            write!(
                f,
                "{sign}{}.{}s",
                self.seconds.unsigned_abs(),
                frac.trim_end_matches('0')
            )
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(de::Error::custom)
    }
}

/// Serde helpers for int64 fields, which protojson writes as strings and accepts as either.
pub mod int64_string {
    use serde::{de, Deserialize, Deserializer, Serializer};

    /// Writes the number as a JSON string.
    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    /// Reads a JSON string or number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            S(String),
            N(i64),
        }
        match Either::deserialize(d)? {
            Either::N(n) => Ok(n),
            Either::S(s) => s
                .parse()
                .map_err(|_| de::Error::custom(format!("`{s}` is not an int64"))),
        }
    }
}

/// Declares a protojson enum: full upper-case names on the wire, `*_UNSPECIFIED` as the default,
/// and a clear error listing the accepted names when a client sends an unknown one.
#[macro_export]
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $first:ident = $fwire:literal $(, $variant:ident = $wire:literal)* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            #[default]
            #[serde(rename = $fwire)] $first,
            $(#[serde(rename = $wire)] $variant,)*
        }
        impl $name {
            /// The wire name of this value.
            pub fn as_str(&self) -> &'static str {
                match self { Self::$first => $fwire, $(Self::$variant => $wire,)* }
            }
            /// Parses a wire name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $fwire => Some(Self::$first), $($wire => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for s in ["3600s", "0s", "1.5s", "-2s", "0.000000001s"] {
            assert_eq!(Duration::parse(s).unwrap().to_string(), s);
        }
        assert!(Duration::parse("1h").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("1.5.5s").is_err());
    }

    #[test]
    fn timestamps_round_trip_through_micros() {
        let t = Timestamp::parse("2026-11-23T07:31:00.123456Z").unwrap();
        assert_eq!(Timestamp::from_micros(t.as_micros()), t);
        assert_eq!(t.to_string(), "2026-11-23T07:31:00.123456Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }
}
