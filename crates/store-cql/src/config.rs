//! The CQL adapter's configuration (`[store]` with `kind = "cql"`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use domain::{Error, ErrorCode, Result};
use scylla::statement::{Consistency, SerialConsistency};
use serde::{Deserialize, Serialize};

/// How to reach the cluster and how to talk to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CqlConfig {
    /// `host:port` of a few nodes; the driver discovers the rest.
    pub contact_points: Vec<String>,
    pub keyspace: String,
    /// The datacenter this process runs in: requests go to its nodes only (with
    /// `LOCAL_QUORUM`). Unset: any node.
    pub local_datacenter: Option<String>,
    /// Used when the keyspace is created.
    pub replication: Replication,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `local_quorum` (default), `quorum`, `local_one`, `one`, `all`, …
    pub consistency: String,
    /// `local_serial` (default) or `serial`: the consistency of lightweight transactions.
    pub serial_consistency: String,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// How long to keep trying to connect at start.
    pub connect_wait_secs: u64,
    /// Connect over TLS (the nodes' `client_encryption_options`). The nodes' certificates
    /// are checked against `tls_ca_file` and must name the address they are reached at
    /// (an IP address subject alternative name: the driver reaches every node by its IP).
    pub tls: bool,
    /// A PEM file of the certificate authorities that sign the nodes' certificates (unset:
    /// the system's roots).
    pub tls_ca_file: Option<PathBuf>,
    /// A client certificate chain and its private key (PEM), for nodes that require one
    /// (`require_client_auth`).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
}

impl Default for CqlConfig {
    fn default() -> Self {
        Self {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "petit_chat".into(),
            local_datacenter: None,
            replication: Replication::default(),
            username: None,
            password: None,
            consistency: "local_quorum".into(),
            serial_consistency: "local_serial".into(),
            request_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            connect_wait_secs: 60,
            tls: false,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// Keyspace replication: `SimpleStrategy` with a factor for a dev node, or
/// `NetworkTopologyStrategy` with a factor per datacenter in production.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Replication {
    pub class: String,
    pub replication_factor: Option<u32>,
    pub datacenters: BTreeMap<String, u32>,
}

impl Default for Replication {
    fn default() -> Self {
        Self { class: "SimpleStrategy".into(), replication_factor: Some(1), datacenters: BTreeMap::new() }
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 48 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl CqlConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid(ErrorCode::InvalidConfig, what));
        if self.contact_points.is_empty() {
            return bad("store.contact_points is empty".into());
        }
        if !is_identifier(&self.keyspace) || self.keyspace.contains('-') {
            return bad(format!("store.keyspace {:?} is not a CQL identifier", self.keyspace));
        }
        self.replication_cql()?;
        self.consistency()?;
        self.serial_consistency()?;
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return bad("store.tls_cert_file and store.tls_key_file go together".into());
        }
        if !self.tls && (self.tls_ca_file.is_some() || self.tls_cert_file.is_some()) {
            return bad("store.tls_ca_file and store.tls_cert_file need store.tls = true".into());
        }
        Ok(())
    }

    /// The replication map as CQL.
    pub fn replication_cql(&self) -> Result<String> {
        let r = &self.replication;
        match r.class.as_str() {
            "SimpleStrategy" => {
                let n = r.replication_factor.unwrap_or(1);
                Ok(format!("{{'class': 'SimpleStrategy', 'replication_factor': {n}}}"))
            }
            "NetworkTopologyStrategy" => {
                if r.datacenters.is_empty() || !r.datacenters.keys().all(|dc| is_identifier(dc)) {
                    return Err(Error::invalid(
                        ErrorCode::InvalidConfig,
                        "NetworkTopologyStrategy needs store.replication.datacenters = { <dc> = <factor>, … }",
                    ));
                }
                let dcs: Vec<String> = r.datacenters.iter().map(|(dc, n)| format!("'{dc}': {n}")).collect();
                Ok(format!("{{'class': 'NetworkTopologyStrategy', {}}}", dcs.join(", ")))
            }
            other => Err(Error::invalid(ErrorCode::InvalidConfig, format!("unknown replication class {other:?}"))),
        }
    }

    pub fn consistency(&self) -> Result<Consistency> {
        Ok(match self.consistency.as_str() {
            "any" => Consistency::Any,
            "one" => Consistency::One,
            "two" => Consistency::Two,
            "three" => Consistency::Three,
            "quorum" => Consistency::Quorum,
            "all" => Consistency::All,
            "local_quorum" => Consistency::LocalQuorum,
            "each_quorum" => Consistency::EachQuorum,
            "local_one" => Consistency::LocalOne,
            other => return Err(Error::invalid(ErrorCode::InvalidConfig, format!("unknown consistency {other:?}"))),
        })
    }

    pub fn serial_consistency(&self) -> Result<SerialConsistency> {
        Ok(match self.serial_consistency.as_str() {
            "serial" => SerialConsistency::Serial,
            "local_serial" => SerialConsistency::LocalSerial,
            other => {
                return Err(Error::invalid(ErrorCode::InvalidConfig, format!("unknown serial consistency {other:?}")));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_need_tls_and_a_certificate_needs_its_key() {
        let ok = CqlConfig { tls: true, tls_ca_file: Some("ca.pem".into()), ..CqlConfig::default() };
        assert!(ok.validate().is_ok());
        let no_tls = CqlConfig { tls_ca_file: Some("ca.pem".into()), ..CqlConfig::default() };
        assert_eq!(no_tls.validate().unwrap_err().code, ErrorCode::InvalidConfig);
        let half = CqlConfig { tls: true, tls_cert_file: Some("client.pem".into()), ..CqlConfig::default() };
        assert_eq!(half.validate().unwrap_err().code, ErrorCode::InvalidConfig);
    }
}
