//! Notifications: who is told what, on which channel, and the delivery of it.
//!
//! Domain events (`change_events`: task changes, grant changes, expiry notices) are turned into
//! one notification row per recipient and channel by the pipeline; each row is delivered by a
//! job from the job table (at-least-once, de-duplicated by its key, retried with backoff) and
//! its outcome is kept for admins to see. Channels: email over SMTP and Slack DMs.

pub mod delivery;
pub mod digest;
pub mod email;
pub mod message;
pub mod pipeline;
pub mod provider;
pub mod slack;

pub use message::{DeliveryError, NotificationKind, Outgoing};
