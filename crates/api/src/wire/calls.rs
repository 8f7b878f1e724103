//! Calls on the wire.

use domain::{Call, CallMedia, CallSignalKind, CallState, CallSummary, Id};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::timestamp;

wire_enum! {
    /// What a call carries.
    CallMediaWire <=> CallMedia { Audio, Video }
}

wire_enum! {
    /// Where a call stands.
    CallStateWire <=> CallState {
        /// Started; nobody answered yet (it rings the other members).
        Ringing,
        /// Someone answered.
        Ongoing,
        Ended,
    }
}

wire_enum! {
    /// What a relayed WebRTC message is.
    CallSignalKindWire <=> CallSignalKind { Offer, Answer, Candidate, Hangup }
}

/// A call (`id` is also its `call` signal's id).
#[derive(Debug, Serialize, ToSchema)]
pub struct CallOut {
    #[schema(value_type = String)]
    pub id: Id,
    /// The `call` signal that shows it in the chat's timeline.
    #[schema(value_type = String)]
    pub signal_id: Id,
    #[schema(value_type = String)]
    pub chat_id: Id,
    pub media: CallMediaWire,
    pub state: CallStateWire,
    #[schema(value_type = String)]
    pub started_by: Id,
    /// Who is in the call now.
    #[schema(value_type = Vec<String>)]
    pub participants: Vec<Id>,
    /// The members it rings (all but the caller).
    #[schema(value_type = Vec<String>)]
    pub invited: Vec<Id>,
    #[schema(value_type = Vec<String>)]
    pub declined: Vec<Id>,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
}

impl From<Call> for CallOut {
    fn from(c: Call) -> Self {
        Self {
            id: c.id,
            signal_id: c.id,
            chat_id: c.chat_id,
            media: c.summary.media.into(),
            state: c.summary.state.into(),
            started_by: c.started_by,
            participants: c.present,
            invited: c.invited,
            declined: c.declined,
            started_at: timestamp(c.started_at),
            answered_at: c.summary.answered_at.map(timestamp),
            ended_at: c.summary.ended_at.map(timestamp),
        }
    }
}

/// What a `call` signal says.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallSummaryOut {
    pub media: CallMediaWire,
    pub state: CallStateWire,
    /// Everyone who was in the call at some point, the caller first.
    #[schema(value_type = Vec<String>)]
    pub participants: Vec<Id>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// From the first answer to the end, in seconds (ended calls that were answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// Ended without anyone answering.
    pub missed: bool,
}

impl From<CallSummary> for CallSummaryOut {
    fn from(c: CallSummary) -> Self {
        Self {
            media: c.media.into(),
            state: c.state.into(),
            duration_secs: c.duration_ms().map(|ms| ms as f64 / 1000.0),
            missed: c.missed(),
            participants: c.participants,
            answered_at: c.answered_at.map(timestamp),
            ended_at: c.ended_at.map(timestamp),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCallIn {
    pub media: CallMediaWire,
}

/// A WebRTC message for another person in the call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallSignalIn {
    #[schema(value_type = super::rules::IdString)]
    pub to: Id,
    #[serde(rename = "type")]
    pub kind: CallSignalKindWire,
    /// The payload (an SDP, an ICE candidate…), any JSON of at most 16 KiB.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// One ICE server, as `RTCPeerConnection`'s `iceServers` takes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IceServerOut {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IceServersOut {
    pub ice_servers: Vec<IceServerOut>,
    /// Seconds the TURN credentials stay good for.
    pub ttl_secs: u64,
    /// Relay every call through the TURN servers (`iceTransportPolicy: "relay"`): the
    /// server's operators chose that people never learn each other's addresses.
    pub relay_only: bool,
}
